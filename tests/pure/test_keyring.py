"""Known answers for every context: a change to one would make every stored seal or
ciphertext of that kind unopenable, so it must be deliberate (and come with a migration)."""

import pytest

from relay import crypto
from relay import keyring

PUBLIC = bytes(range(32))
DIGEST = bytes(range(32, 64))
HEX = PUBLIC.hex()


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (keyring.user_private_key("password", PUBLIC), f"user-private-key:password:{HEX}"),
        (keyring.user_private_key("recovery", PUBLIC), f"user-private-key:recovery:{HEX}"),
        (keyring.session_private_key(DIGEST), f"session:{DIGEST.hex()}"),
        (keyring.pending_totp_secret(DIGEST), f"pending-totp:{DIGEST.hex()}"),
        (keyring.totp_secret(PUBLIC), f"totp-secret:{HEX}"),
        (keyring.escrow_seal(3, PUBLIC), f"escrow-private-key:3:admin:{HEX}"),
        (keyring.case_key_to_escrow(7, 3), "case-private-key:7:escrow:3"),
        (keyring.case_key_to_member(7, PUBLIC), f"case-private-key:7:member:{HEX}"),
        (keyring.content_key(12, keyring.case_holder(7)), "content-key:version:12:holder:case:7"),
        (keyring.content_key(12, keyring.user_holder(4)), "content-key:version:12:holder:user:4"),
        (keyring.letter_text(12), "letter-version:12"),
        (keyring.note_key(5, keyring.case_holder(7)), "note-key:note:5:holder:case:7"),
        (keyring.note_key(5, keyring.user_holder(4)), "note-key:note:5:holder:user:4"),
        (keyring.note_text(5), "note:5"),
        (keyring.paper_scan_key(8, keyring.case_holder(7)), "paper-scan-key:scan:8:holder:case:7"),
        (keyring.paper_scan(8), "paper-scan:8"),
        (keyring.outbox_body(99), "outbox-message:99"),
        (keyring.legacy_team_membership(1, PUBLIC), f"team-private-key:1:member:{HEX}"),
    ],
)
def test_each_context_is_pinned(built, expected):
    assert built == expected.encode()


def test_no_two_kinds_of_context_can_be_the_same():
    built = [
        keyring.user_private_key("password", PUBLIC),
        keyring.user_private_key("recovery", PUBLIC),
        keyring.session_private_key(PUBLIC),
        keyring.pending_totp_secret(PUBLIC),
        keyring.totp_secret(PUBLIC),
        keyring.escrow_seal(1, PUBLIC),
        keyring.case_key_to_escrow(1, 1),
        keyring.case_key_to_member(1, PUBLIC),
        keyring.content_key(1, keyring.case_holder(1)),
        keyring.content_key(1, keyring.user_holder(1)),
        keyring.letter_text(1),
        keyring.note_key(1, keyring.case_holder(1)),
        keyring.note_key(1, keyring.user_holder(1)),
        keyring.note_text(1),
        keyring.paper_scan_key(1, keyring.case_holder(1)),
        keyring.paper_scan(1),
        keyring.outbox_body(1),
        keyring.legacy_team_membership(1, PUBLIC),
    ]
    assert len(set(built)) == len(built)


def test_subkey_purposes_are_pinned_and_distinct():
    master = bytes(32)
    assert keyring.OUTBOX_PURPOSE == b"outbox"
    assert keyring.BACKUP_CODES_PURPOSE == b"backup-codes"
    assert crypto.derive_subkey(master, keyring.OUTBOX_PURPOSE) != crypto.derive_subkey(
        master, keyring.BACKUP_CODES_PURPOSE
    )


def test_a_private_key_is_sealed_only_under_a_password_or_a_recovery_key():
    with pytest.raises(ValueError):
        keyring.user_private_key("session", PUBLIC)
