"""Every context that binds a ciphertext or a seal to its place: built here, and only here.

`relay.crypto` binds each ciphertext (as associated data) and each seal (inside the box)
to a context, so a blob copied to another row, version, holder or person refuses to
open there. A context is only as good as its uniqueness, so each is made by exactly one
function below, and `tests/pure/test_keyring.py` pins every one byte for byte.

Each function, what it binds, and under or to what:

* ``user_private_key(kind, public key)``: a private key, under the password or recovery key
* ``session_private_key(token digest)``: a signed-in person's private key, under the
  configured session key
* ``pending_totp_secret(token digest)``: a TOTP secret being set up, under the session key
* ``totp_secret(public key)``: a person's TOTP secret, sealed to their own public key
* ``escrow_seal(escrow key id, admin public key)``: the escrow key, to one administrator
* ``case_key_to_escrow(case key id, escrow key id)``: a case key, to the escrow key
* ``case_key_to_member(case key id, member public key)``: a case key, to one staff member
* ``content_key(version id, holder)``: a content key, to ``case_holder`` or ``user_holder``
* ``letter_text(version id)``: a letter version's text, under its content key
* ``note_key(note id, holder)``: a note's key, to ``case_holder`` or ``user_holder``
* ``note_text(note id)``: a note's text, under its note key
* ``paper_scan_key(scan id, holder)``: a paper scan's key, to ``case_holder``
* ``paper_scan(scan id)``: a paper scan's pictures, under its scan key
* ``outbox_body(message id)``: a queued e-mail body, under the outbox subkey
* ``legacy_team_membership(team key id, public key)``: the old team key (``keys migrate``)

Subkeys of the configured session key are derived by `crypto.derive_subkey` with the
purposes named here, so no key serves two uses.
"""

# Purposes for crypto.derive_subkey(SESSION_KEY, purpose).
OUTBOX_PURPOSE = b"outbox"
BACKUP_CODES_PURPOSE = b"backup-codes"

# The holder of every content key sealed before keys per case; only `keys migrate` reads it.
LEGACY_TEAM_HOLDER = "team"


def user_holder(user_id: int) -> str:
    return f"user:{user_id}"


def case_holder(case_key_id: int) -> str:
    return f"case:{case_key_id}"


def user_private_key(kind: str, public_key: bytes) -> bytes:
    if kind not in ("password", "recovery"):
        raise ValueError("a private key is sealed under a password or a recovery key")
    return f"user-private-key:{kind}:{public_key.hex()}".encode()


def session_private_key(token_digest: bytes) -> bytes:
    return f"session:{token_digest.hex()}".encode()


def pending_totp_secret(token_digest: bytes) -> bytes:
    return f"pending-totp:{token_digest.hex()}".encode()


def totp_secret(public_key: bytes) -> bytes:
    return f"totp-secret:{public_key.hex()}".encode()


def escrow_seal(escrow_key_id: int, admin_public_key: bytes) -> bytes:
    return f"escrow-private-key:{escrow_key_id}:admin:{admin_public_key.hex()}".encode()


def case_key_to_escrow(case_key_id: int, escrow_key_id: int) -> bytes:
    return f"case-private-key:{case_key_id}:escrow:{escrow_key_id}".encode()


def case_key_to_member(case_key_id: int, member_public_key: bytes) -> bytes:
    return f"case-private-key:{case_key_id}:member:{member_public_key.hex()}".encode()


def content_key(version_id: int, holder: str) -> bytes:
    return f"content-key:version:{version_id}:holder:{holder}".encode()


def letter_text(version_id: int) -> bytes:
    return f"letter-version:{version_id}".encode()


def note_key(note_id: int, holder: str) -> bytes:
    return f"note-key:note:{note_id}:holder:{holder}".encode()


def note_text(note_id: int) -> bytes:
    return f"note:{note_id}".encode()


def paper_scan_key(scan_id: int, holder: str) -> bytes:
    return f"paper-scan-key:scan:{scan_id}:holder:{holder}".encode()


def paper_scan(scan_id: int) -> bytes:
    return f"paper-scan:{scan_id}".encode()


def outbox_body(message_id: int) -> bytes:
    return f"outbox-message:{message_id}".encode()


def legacy_team_membership(team_key_id: int, member_public_key: bytes) -> bytes:
    return f"team-private-key:{team_key_id}:member:{member_public_key.hex()}".encode()
