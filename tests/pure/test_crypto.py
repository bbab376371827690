"""Unit tests for relay.crypto."""

import base64
import hashlib

import nacl.pwhash.argon2id
import pytest

from relay import crypto
from relay.crypto import INTERACTIVE
from relay.crypto import MODERATE
from relay.crypto import SALT_BYTES
from relay.crypto import CryptoError
from relay.crypto import DecryptionFailed
from relay.crypto import KdfLimits
from relay.crypto import KeyPair
from relay.crypto import PasswordKeys
from relay.crypto import authenticator_digest
from relay.crypto import authenticator_matches
from relay.crypto import decrypt
from relay.crypto import derive_password_keys
from relay.crypto import derive_recovery_key
from relay.crypto import encrypt
from relay.crypto import generate_keypair
from relay.crypto import new_recovery_code
from relay.crypto import new_salt
from relay.crypto import new_symmetric_key
from relay.crypto import normalise_recovery_code
from relay.crypto import open_sealed
from relay.crypto import public_key_of
from relay.crypto import seal_to

FAST = KdfLimits(
    opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
    memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
)
FIXED_SALT = bytes(range(16))
OTHER_SALT = bytes(range(1, 17))
FIXED_CODE = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YQ"
CONTEXT = b"letter-version:1"
PLAINTEXT = b"Dear Ada, the meeting is at noon."

# Layout of an encrypt() blob: version (1) | nonce (24) | ciphertext | tag (16).
NONCE_START, NONCE_END = 1, 25
TAG_BYTES = 16


def _flip(blob: bytes, index: int) -> bytes:
    changed = bytearray(blob)
    changed[index] ^= 0x01
    return bytes(changed)


# --- constants -------------------------------------------------------------------------------


def test_kdf_presets_match_pynacl_argon2id_constants() -> None:
    assert INTERACTIVE == KdfLimits(
        nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
    )
    assert MODERATE == KdfLimits(
        nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE
    )
    assert SALT_BYTES == nacl.pwhash.argon2id.SALTBYTES == 16


def test_new_salt_is_salt_bytes_long_and_random() -> None:
    salts = {new_salt() for _ in range(20)}
    assert len(salts) == 20
    assert all(len(salt) == SALT_BYTES for salt in salts)


def test_new_symmetric_key_is_32_random_bytes() -> None:
    keys = {new_symmetric_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(key) == 32 for key in keys)


# --- password keys ---------------------------------------------------------------------------


def test_password_derivation_is_deterministic_for_same_inputs() -> None:
    first = derive_password_keys("correct horse", FIXED_SALT, FAST)
    second = derive_password_keys("correct horse", FIXED_SALT, FAST)
    assert first == second
    assert len(first.encryption_key) == 32
    assert len(first.authenticator) == 32


def test_password_derivation_differs_for_another_salt() -> None:
    assert derive_password_keys("correct horse", FIXED_SALT, FAST) != derive_password_keys(
        "correct horse", OTHER_SALT, FAST
    )


def test_password_derivation_differs_for_another_password() -> None:
    assert derive_password_keys("correct horse", FIXED_SALT, FAST) != derive_password_keys(
        "correct horsf", FIXED_SALT, FAST
    )


def test_password_derivation_differs_for_other_limits() -> None:
    slower = KdfLimits(opslimit=FAST.opslimit + 1, memlimit=FAST.memlimit)
    assert derive_password_keys("correct horse", FIXED_SALT, FAST) != derive_password_keys(
        "correct horse", FIXED_SALT, slower
    )


def test_password_encryption_key_differs_from_authenticator() -> None:
    keys = derive_password_keys("correct horse", FIXED_SALT, FAST)
    assert keys.encryption_key != keys.authenticator


def test_password_derivation_runs_argon2id_once_with_explicit_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, bytes, bytes, int, int]] = []
    real_kdf = nacl.pwhash.argon2id.kdf

    def spy(size: int, password: bytes, salt: bytes, *, opslimit: int, memlimit: int) -> bytes:
        calls.append((size, password, salt, opslimit, memlimit))
        return real_kdf(size, password, salt, opslimit=opslimit, memlimit=memlimit)

    monkeypatch.setattr(nacl.pwhash.argon2id, "kdf", spy)
    derive_password_keys("pässword", FIXED_SALT, FAST)
    assert calls == [(32, "pässword".encode(), FIXED_SALT, FAST.opslimit, FAST.memlimit)]


def test_password_keys_are_blake2b_splits_of_the_argon2id_output() -> None:
    master = nacl.pwhash.argon2id.kdf(
        32, b"correct horse", FIXED_SALT, opslimit=FAST.opslimit, memlimit=FAST.memlimit
    )
    keys = derive_password_keys("correct horse", FIXED_SALT, FAST)
    assert (
        keys.encryption_key
        == hashlib.blake2b(b"", digest_size=32, key=master, person=b"relay-pw-enc").digest()
    )
    assert (
        keys.authenticator
        == hashlib.blake2b(b"", digest_size=32, key=master, person=b"relay-pw-auth").digest()
    )


def test_password_derivation_known_answer() -> None:
    keys = derive_password_keys("correct horse", FIXED_SALT, FAST)
    assert keys.encryption_key.hex() == (
        "37b3db46dd8ca78a7534c3e9db1f514636d9f97b922f595fb50e7ae2c7d9e4c0"
    )
    assert keys.authenticator.hex() == (
        "99f6808097adfef63d8920c1b146faceaabf1c0aad44c790eda7589d1e89a86c"
    )


@pytest.mark.slow
def test_password_derivation_works_with_interactive_limits() -> None:
    keys = derive_password_keys("correct horse", FIXED_SALT, INTERACTIVE)
    assert len(keys.encryption_key) == 32
    assert keys != derive_password_keys("correct horse", FIXED_SALT, FAST)


def test_password_derivation_rejects_wrong_salt_length() -> None:
    with pytest.raises(CryptoError):
        derive_password_keys("correct horse", b"short", FAST)


def test_password_derivation_rejects_limits_below_argon2id_minimum() -> None:
    with pytest.raises(CryptoError):
        derive_password_keys("correct horse", FIXED_SALT, KdfLimits(opslimit=0, memlimit=0))


def test_password_keys_repr_hides_keys() -> None:
    keys = derive_password_keys("correct horse", FIXED_SALT, FAST)
    text = repr(keys)
    assert keys.encryption_key.hex() not in text
    assert keys.authenticator.hex() not in text
    assert repr(keys.encryption_key) not in text


# --- authenticator ---------------------------------------------------------------------------


def test_authenticator_matches_its_own_digest() -> None:
    keys = derive_password_keys("correct horse", FIXED_SALT, FAST)
    assert authenticator_matches(keys.authenticator, authenticator_digest(keys.authenticator))


def test_authenticator_does_not_match_digest_of_another_password() -> None:
    right = derive_password_keys("correct horse", FIXED_SALT, FAST)
    wrong = derive_password_keys("wrong horse", FIXED_SALT, FAST)
    assert not authenticator_matches(wrong.authenticator, authenticator_digest(right.authenticator))


def test_authenticator_digest_differs_from_authenticator() -> None:
    authenticator = bytes(range(32))
    assert authenticator_digest(authenticator) != authenticator


def test_authenticator_matches_is_false_for_malformed_input() -> None:
    digest = authenticator_digest(bytes(range(32)))
    assert not authenticator_matches(b"short", digest)
    assert not authenticator_matches(bytes(range(32)), digest[:-1])
    assert not authenticator_matches(bytes(range(32)), b"")


def test_authenticator_digest_known_answer() -> None:
    authenticator = bytes(range(32))
    expected = "7186bd1d0a0c4332aae7581db238a5a469a0aec0288fbc4e7d604ce42262cf5b"
    assert authenticator_digest(authenticator).hex() == expected
    # Cross-check with the stdlib so the pinned value is not just whatever the code produced.
    assert (
        hashlib.blake2b(authenticator, digest_size=32, person=b"relay-auth-dig").hexdigest()
        == expected
    )


# --- recovery codes --------------------------------------------------------------------------


def test_recovery_code_carries_128_bits() -> None:
    code = new_recovery_code()
    compact = code.replace("-", "")
    assert len(compact) == 26
    assert len(base64.b32decode(compact + "======")) == 16


def test_recovery_code_is_grouped_upper_case_base32() -> None:
    code = new_recovery_code()
    groups = code.split("-")
    assert [len(group) for group in groups] == [4, 4, 4, 4, 4, 4, 2]
    assert set(code.replace("-", "")) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_recovery_codes_are_unique() -> None:
    codes = {new_recovery_code() for _ in range(200)}
    assert len(codes) == 200


def test_new_recovery_code_is_already_normal_once_dashes_are_removed() -> None:
    code = new_recovery_code()
    assert normalise_recovery_code(code) == code.replace("-", "")


def test_normalise_accepts_lower_case_spaces_and_dashes() -> None:
    expected = "ABCDEFGHIJKLMNOPQRSTUVWXYQ"
    assert normalise_recovery_code(FIXED_CODE) == expected
    assert normalise_recovery_code(FIXED_CODE.lower()) == expected
    assert normalise_recovery_code("abcd efgh ijkl mnop qrst uvwx yq") == expected
    assert normalise_recovery_code("  abCD-efgh ijklMNOP-qrst-uvwxyq\n") == expected


@pytest.mark.parametrize(
    "bad_code",
    [
        "",
        "ABCD-EFGH",  # too short
        "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YQA",  # too long
        "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-Y0",  # 0 is not in the base32 alphabet
        "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-Y1",  # nor is 1
        "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-Y=",  # padding is not part of a code
        "ABCD_EFGH_IJKL_MNOP_QRST_UVWX_YQ",  # only spaces and dashes are forgiven
        "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YR",  # R sets the 2 unused trailing bits
    ],
)
def test_invalid_recovery_code_raises_crypto_error(bad_code: str) -> None:
    with pytest.raises(CryptoError):
        normalise_recovery_code(bad_code)
    with pytest.raises(CryptoError):
        derive_recovery_key(bad_code, FIXED_SALT)


def test_recovery_key_is_same_for_differently_formatted_code() -> None:
    key = derive_recovery_key(FIXED_CODE, FIXED_SALT)
    assert len(key) == 32
    assert derive_recovery_key("abcd efgh ijkl mnop qrst uvwx yq", FIXED_SALT) == key
    assert derive_recovery_key("ABCDEFGHIJKLMNOPQRSTUVWXYQ", FIXED_SALT) == key


def test_recovery_key_differs_for_another_code() -> None:
    other_code = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YA"
    assert derive_recovery_key(other_code, FIXED_SALT) != derive_recovery_key(
        FIXED_CODE, FIXED_SALT
    )


def test_recovery_key_differs_for_another_salt() -> None:
    assert derive_recovery_key(FIXED_CODE, OTHER_SALT) != derive_recovery_key(
        FIXED_CODE, FIXED_SALT
    )


def test_recovery_key_rejects_wrong_salt_length() -> None:
    with pytest.raises(CryptoError):
        derive_recovery_key(FIXED_CODE, b"short")


def test_recovery_key_known_answer() -> None:
    expected = "3298d6a093bbbea128f22a1b2cdd47823adbdde2d0f635f81ad2dd8976ee7a4c"
    assert derive_recovery_key(FIXED_CODE, FIXED_SALT).hex() == expected
    code_bytes = base64.b32decode("ABCDEFGHIJKLMNOPQRSTUVWXYQ======")
    assert (
        hashlib.blake2b(
            FIXED_SALT, digest_size=32, key=code_bytes, person=b"relay-recovery"
        ).hexdigest()
        == expected
    )


# --- key pairs -------------------------------------------------------------------------------


def test_generate_keypair_public_key_matches_private_key() -> None:
    pair = generate_keypair()
    assert isinstance(pair, KeyPair)
    assert len(pair.public_key) == 32
    assert len(pair.private_key) == 32
    assert public_key_of(pair.private_key) == pair.public_key


def test_generate_keypair_gives_distinct_pairs() -> None:
    assert generate_keypair().private_key != generate_keypair().private_key


def test_keypair_repr_hides_private_key() -> None:
    pair = generate_keypair()
    assert pair.private_key.hex() not in repr(pair)
    assert repr(pair.private_key) not in repr(pair)


def test_public_key_of_rejects_wrong_length() -> None:
    with pytest.raises(CryptoError):
        public_key_of(b"\x00" * 31)


# --- symmetric encryption --------------------------------------------------------------------


def test_encrypt_decrypt_round_trip() -> None:
    key = new_symmetric_key()
    blob = encrypt(key, PLAINTEXT, CONTEXT)
    assert decrypt(key, blob, CONTEXT) == PLAINTEXT


def test_encrypt_decrypt_round_trip_empty_plaintext() -> None:
    key = new_symmetric_key()
    assert decrypt(key, encrypt(key, b"", CONTEXT), CONTEXT) == b""


def test_encrypt_output_layout_is_version_nonce_ciphertext_tag() -> None:
    blob = encrypt(new_symmetric_key(), PLAINTEXT, CONTEXT)
    assert blob[:1] == b"\x01"
    assert len(blob) == 1 + 24 + len(PLAINTEXT) + TAG_BYTES
    assert PLAINTEXT not in blob


def test_encrypt_uses_fresh_nonce_each_time() -> None:
    key = new_symmetric_key()
    first = encrypt(key, PLAINTEXT, CONTEXT)
    second = encrypt(key, PLAINTEXT, CONTEXT)
    assert first[NONCE_START:NONCE_END] != second[NONCE_START:NONCE_END]
    assert first != second


def test_decrypt_with_wrong_key_fails() -> None:
    blob = encrypt(new_symmetric_key(), PLAINTEXT, CONTEXT)
    with pytest.raises(DecryptionFailed):
        decrypt(new_symmetric_key(), blob, CONTEXT)


@pytest.mark.parametrize(
    "where",
    ["version", "nonce_first", "nonce_last", "ciphertext", "tag_first", "tag_last"],
)
def test_decrypt_fails_when_any_single_byte_changes(where: str) -> None:
    key = new_symmetric_key()
    blob = encrypt(key, PLAINTEXT, CONTEXT)
    index = {
        "version": 0,
        "nonce_first": NONCE_START,
        "nonce_last": NONCE_END - 1,
        "ciphertext": NONCE_END + 3,
        "tag_first": len(blob) - TAG_BYTES,
        "tag_last": len(blob) - 1,
    }[where]
    with pytest.raises(DecryptionFailed):
        decrypt(key, _flip(blob, index), CONTEXT)


def test_decrypt_fails_for_every_single_byte_change() -> None:
    key = new_symmetric_key()
    blob = encrypt(key, b"short", CONTEXT)
    for index in range(len(blob)):
        with pytest.raises(DecryptionFailed):
            decrypt(key, _flip(blob, index), CONTEXT)


@pytest.mark.parametrize("keep", [0, 1, 25, 25 + TAG_BYTES - 1, -1])
def test_decrypt_truncated_blob_fails(keep: int) -> None:
    key = new_symmetric_key()
    blob = encrypt(key, PLAINTEXT, CONTEXT)
    with pytest.raises(DecryptionFailed):
        decrypt(key, blob[:keep], CONTEXT)


def test_decrypt_with_extra_trailing_byte_fails() -> None:
    key = new_symmetric_key()
    blob = encrypt(key, PLAINTEXT, CONTEXT)
    with pytest.raises(DecryptionFailed):
        decrypt(key, blob + b"\x00", CONTEXT)


def test_ciphertext_moved_to_another_version_fails() -> None:
    key = new_symmetric_key()
    blob = encrypt(key, PLAINTEXT, b"letter-version:1")
    with pytest.raises(DecryptionFailed):
        decrypt(key, blob, b"letter-version:2")
    with pytest.raises(DecryptionFailed):
        decrypt(key, blob, b"letter-version:12")


def test_decrypt_with_malformed_key_raises_decryption_failed() -> None:
    blob = encrypt(new_symmetric_key(), PLAINTEXT, CONTEXT)
    with pytest.raises(DecryptionFailed):
        decrypt(b"\x00" * 31, blob, CONTEXT)


def test_encrypt_rejects_wrong_key_length() -> None:
    with pytest.raises(CryptoError):
        encrypt(b"\x00" * 16, PLAINTEXT, CONTEXT)


def test_encrypt_rejects_text_instead_of_bytes() -> None:
    with pytest.raises(CryptoError):
        encrypt(new_symmetric_key(), "text", CONTEXT)  # type: ignore[arg-type]


# --- sealing ---------------------------------------------------------------------------------


def test_seal_to_open_sealed_round_trip() -> None:
    pair = generate_keypair()
    secret = new_symmetric_key()
    context = b"content-key:version:1:holder:user-7"
    sealed = seal_to(pair.public_key, secret, context)
    assert sealed[:1] == b"\x01"
    assert secret not in sealed
    assert open_sealed(pair.private_key, sealed, context) == secret


def test_seal_round_trip_with_empty_context_and_secret() -> None:
    pair = generate_keypair()
    assert open_sealed(pair.private_key, seal_to(pair.public_key, b"", b""), b"") == b""


def test_seal_opened_with_another_private_key_fails() -> None:
    pair = generate_keypair()
    other = generate_keypair()
    sealed = seal_to(pair.public_key, b"secret", CONTEXT)
    with pytest.raises(DecryptionFailed):
        open_sealed(other.private_key, sealed, CONTEXT)


def test_seal_for_version_1_presented_for_version_2_fails() -> None:
    pair = generate_keypair()
    sealed = seal_to(pair.public_key, b"secret", b"content-key:version:1:holder:user-7")
    with pytest.raises(DecryptionFailed):
        open_sealed(pair.private_key, sealed, b"content-key:version:2:holder:user-7")


def test_seal_for_one_holder_presented_for_another_holder_fails() -> None:
    pair = generate_keypair()
    sealed = seal_to(pair.public_key, b"secret", b"content-key:version:1:holder:user-7")
    with pytest.raises(DecryptionFailed):
        open_sealed(pair.private_key, sealed, b"content-key:version:1:holder:user-8")


def test_seal_context_that_is_a_prefix_of_another_fails() -> None:
    pair = generate_keypair()
    sealed = seal_to(pair.public_key, b"2secret", b"letter-version:1")
    with pytest.raises(DecryptionFailed):
        open_sealed(pair.private_key, sealed, b"letter-version:12")
    sealed = seal_to(pair.public_key, b"secret", b"letter-version:12")
    with pytest.raises(DecryptionFailed):
        open_sealed(pair.private_key, sealed, b"letter-version:1")


@pytest.mark.parametrize("index", [0, 1, 20, 40, -1])
def test_seal_with_changed_byte_fails(index: int) -> None:
    pair = generate_keypair()
    sealed = seal_to(pair.public_key, b"secret", CONTEXT)
    with pytest.raises(DecryptionFailed):
        open_sealed(pair.private_key, _flip(sealed, index), CONTEXT)


@pytest.mark.parametrize("keep", [0, 1, 10, -1])
def test_truncated_seal_fails(keep: int) -> None:
    pair = generate_keypair()
    sealed = seal_to(pair.public_key, b"secret", CONTEXT)
    with pytest.raises(DecryptionFailed):
        open_sealed(pair.private_key, sealed[:keep], CONTEXT)


def test_open_sealed_with_malformed_private_key_raises_decryption_failed() -> None:
    pair = generate_keypair()
    sealed = seal_to(pair.public_key, b"secret", CONTEXT)
    with pytest.raises(DecryptionFailed):
        open_sealed(b"\x00" * 31, sealed, CONTEXT)


def test_seal_to_rejects_oversized_context() -> None:
    with pytest.raises(CryptoError):
        seal_to(generate_keypair().public_key, b"secret", b"x" * 0x10000)


# --- secrets stay out of errors --------------------------------------------------------------


def _assert_secret_absent(error: BaseException, *secrets: bytes | str) -> None:
    rendered = f"{error!s} {error!r} {error.args!r}"
    for secret in secrets:
        if isinstance(secret, bytes):
            assert secret.hex() not in rendered
            assert repr(secret) not in rendered
            assert secret.decode("latin-1") not in rendered
        else:
            assert secret not in rendered
    # A chained PyNaCl exception would drag its own (and its frames') details along.
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None


def test_decrypt_error_does_not_contain_key_or_plaintext() -> None:
    key = new_symmetric_key()
    blob = encrypt(key, PLAINTEXT, CONTEXT)
    with pytest.raises(DecryptionFailed) as excinfo:
        decrypt(new_symmetric_key(), blob, CONTEXT)
    _assert_secret_absent(excinfo.value, key, PLAINTEXT)
    with pytest.raises(DecryptionFailed) as excinfo:
        decrypt(key, blob, b"letter-version:2")
    _assert_secret_absent(excinfo.value, key, PLAINTEXT)


def test_open_sealed_error_does_not_contain_private_key_or_secret() -> None:
    pair = generate_keypair()
    secret = new_symmetric_key()
    sealed = seal_to(pair.public_key, secret, CONTEXT)
    with pytest.raises(DecryptionFailed) as excinfo:
        open_sealed(pair.private_key, sealed, b"letter-version:2")
    _assert_secret_absent(excinfo.value, pair.private_key, secret)
    wrong = generate_keypair()
    with pytest.raises(DecryptionFailed) as excinfo:
        open_sealed(wrong.private_key, sealed, CONTEXT)
    _assert_secret_absent(excinfo.value, wrong.private_key, secret)


def test_password_error_does_not_contain_password() -> None:
    password = "hunter2-very-secret"
    with pytest.raises(CryptoError) as excinfo:
        derive_password_keys(password, FIXED_SALT, KdfLimits(opslimit=0, memlimit=0))
    _assert_secret_absent(excinfo.value, password)


def test_invalid_recovery_code_error_does_not_contain_code() -> None:
    code = "WXYZ-WXYZ-WXYZ-WXYZ-WXYZ-WXYZ-W8"
    with pytest.raises(CryptoError) as excinfo:
        normalise_recovery_code(code)
    _assert_secret_absent(excinfo.value, code, code.replace("-", ""), "W8")


def test_encrypt_error_does_not_contain_key() -> None:
    short_key = b"\x42" * 16
    with pytest.raises(CryptoError) as excinfo:
        encrypt(short_key, PLAINTEXT, CONTEXT)
    _assert_secret_absent(excinfo.value, short_key, PLAINTEXT)


def test_module_exports_the_agreed_api() -> None:
    assert issubclass(DecryptionFailed, CryptoError)
    assert isinstance(derive_password_keys("x", FIXED_SALT, FAST), PasswordKeys)
    for name in crypto.__all__:
        assert hasattr(crypto, name), name


def test_subkeys_differ_by_purpose_and_are_stable():
    master = bytes(range(32))
    outbox = crypto.derive_subkey(master, b"outbox")
    assert outbox == crypto.derive_subkey(master, b"outbox")
    assert outbox != crypto.derive_subkey(master, b"backup-codes")
    assert len(outbox) == 32
    assert crypto.keyed_digest(outbox, b"a") != crypto.keyed_digest(outbox, b"b")
    assert crypto.keyed_digest(outbox, b"a") != crypto.keyed_digest(master, b"a")


def test_a_signature_holds_only_for_its_message_and_key():
    key = crypto.new_signing_key()
    signature = crypto.sign(key, b"checkpoint 7")
    assert crypto.signature_valid(key.verify_key, b"checkpoint 7", signature)
    assert not crypto.signature_valid(key.verify_key, b"checkpoint 8", signature)
    assert not crypto.signature_valid(
        crypto.new_signing_key().verify_key, b"checkpoint 7", signature
    )
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not crypto.signature_valid(key.verify_key, b"checkpoint 7", flipped)
    assert not crypto.signature_valid(key.verify_key, b"checkpoint 7", signature[:10])
