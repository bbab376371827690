"""Cryptographic primitives for Relay.

Everything secret in Relay passes through this module, so it is deliberately small and has no
dependency on Flask or the rest of the ``relay`` package: only the standard library and PyNaCl.

Building blocks
---------------
* Passwords: one Argon2id run per sign-in turns a password and a per-user salt into 32 bytes,
  which keyed BLAKE2b splits into an *encryption key* (unseals the user's private key) and an
  *authenticator* (only its BLAKE2b digest is stored, and compared at sign-in). Neither half
  reveals the other, so the server can check a password without holding what unseals the key.
* Recovery codes: 128 random bits shown once as base32 in dashed groups. They already carry
  full entropy, so a keyed BLAKE2b (no Argon2) turns a code and a salt into a 32-byte key.
* Key pairs: X25519 (``nacl.public``).
* Symmetric encryption: XChaCha20-Poly1305 (IETF) with a random 24-byte nonce, which is large
  enough that random nonces never realistically collide under one key.
* Sealing to a public key: ``nacl.public.SealedBox``.

Wire formats
------------
* ``encrypt``: ``b"\\x01" || nonce (24) || ciphertext+tag``; the associated data is ``context``.
* ``seal_to``: ``b"\\x01" || SealedBox(len(context) as 2-byte big endian || context || secret)``.

The leading byte is a format version so the scheme can change later without guessing.

Contexts
--------
Every ciphertext and seal is bound to a *context*: bytes naming where it belongs. Opening it
under any other context fails, so a ciphertext or seal copied to another row (another letter
version, another holder, another user) is useless there. This module only takes bytes; callers
never build them by hand: ``relay/keyring.py`` builds every context Relay uses, one function
each, and lists them.

Signatures
----------
The audit trail's checkpoints are signed with Ed25519 (``new_signing_key``, ``sign``,
``signature_valid``); ``relay/audit.py`` imports no PyNaCl of its own.

Errors
------
All failures raise :class:`CryptoError`; failures to open anything raise its subclass
:class:`DecryptionFailed`, whatever the cause, so callers cannot tell a wrong key from a
tampered byte (and neither can anyone watching their responses). Exception messages never
contain keys, passwords, codes or plaintext, and PyNaCl exceptions are not chained onto them.
"""

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import nacl.exceptions
import nacl.hash
import nacl.pwhash.argon2id
import nacl.utils
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey
from nacl.public import PublicKey
from nacl.public import SealedBox
from nacl.signing import SigningKey
from nacl.signing import VerifyKey

__all__ = [
    "INTERACTIVE",
    "MODERATE",
    "SALT_BYTES",
    "CryptoError",
    "DecryptionFailed",
    "KdfLimits",
    "KeyPair",
    "PasswordKeys",
    "SigningKey",
    "VerifyKey",
    "authenticator_digest",
    "authenticator_matches",
    "decrypt",
    "derive_password_keys",
    "derive_recovery_key",
    "derive_subkey",
    "encrypt",
    "generate_keypair",
    "keyed_digest",
    "new_recovery_code",
    "new_salt",
    "new_signing_key",
    "new_symmetric_key",
    "normalise_recovery_code",
    "open_sealed",
    "public_key_of",
    "seal_to",
    "sign",
    "signature_valid",
    "signing_key_from_bytes",
    "token_digest",
]


class CryptoError(Exception):
    """Base class for every error raised by this module."""


class DecryptionFailed(CryptoError):
    """Something could not be opened: wrong key, changed byte, wrong context, truncated input."""


@dataclass(frozen=True)
class KdfLimits:
    """Argon2id cost parameters (operations and memory in bytes)."""

    opslimit: int
    memlimit: int


INTERACTIVE = KdfLimits(
    opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
    memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
)
MODERATE = KdfLimits(
    opslimit=nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
    memlimit=nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
)
SALT_BYTES: int = nacl.pwhash.argon2id.SALTBYTES

KEY_BYTES = 32
_FORMAT_VERSION = b"\x01"
_NONCE_BYTES = 24
_TAG_BYTES = 16
_MAX_CONTEXT_BYTES = 0xFFFF
_RECOVERY_CODE_BYTES = 16
_RECOVERY_GROUP = 4
# 16 bytes in base32 is 26 characters once the "======" padding is dropped.
_RECOVERY_CODE_CHARS = 26
_BASE32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

# BLAKE2b personalisation strings (at most 16 bytes each). Distinct values make each use of
# BLAKE2b an independent function, so no derived value can stand in for another.
_PERSON_PW_ENC = b"relay-pw-enc"
_PERSON_PW_AUTH = b"relay-pw-auth"
_PERSON_AUTH_DIGEST = b"relay-auth-dig"
_PERSON_RECOVERY = b"relay-recovery"
_PERSON_SUBKEY = b"relay-subkey"
_PERSON_DIGEST = b"relay-keyed-dig"


def _as_bytes(value: object, name: str, error: type[CryptoError] = CryptoError) -> bytes:
    # PyNaCl's C bindings only take bytes; a str slipping through would otherwise fail with a
    # TypeError from deep inside PyNaCl, which callers are not expecting to catch.
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise error(f"{name} must be bytes")


def _as_key(value: object, name: str, error: type[CryptoError] = CryptoError) -> bytes:
    key = _as_bytes(value, name, error)
    if len(key) != KEY_BYTES:
        raise error(f"{name} must be {KEY_BYTES} bytes")
    return key


def _blake2b(data: bytes, *, key: bytes, person: bytes) -> bytes:
    return nacl.hash.blake2b(
        data, digest_size=KEY_BYTES, key=key, person=person, encoder=RawEncoder
    )


def new_salt() -> bytes:
    """Return a fresh random salt for :func:`derive_password_keys` or recovery keys."""
    return nacl.utils.random(SALT_BYTES)


@dataclass(frozen=True)
class PasswordKeys:
    """The two independent keys derived from one password."""

    encryption_key: bytes
    authenticator: bytes

    def __repr__(self) -> str:
        # Keeps keys out of logs and tracebacks that render locals.
        return "PasswordKeys(encryption_key=<redacted>, authenticator=<redacted>)"


def derive_password_keys(password: str, salt: bytes, limits: KdfLimits) -> PasswordKeys:
    """Derive the encryption key and the sign-in authenticator from a password.

    One Argon2id run is the expensive part; splitting its output with keyed BLAKE2b is cheap and
    keeps the two keys independent, so storing a hash of the authenticator reveals nothing about
    the encryption key.
    """
    if not isinstance(password, str):
        raise CryptoError("password must be a str")
    salt = _as_bytes(salt, "salt")
    if len(salt) != SALT_BYTES:
        raise CryptoError(f"salt must be {SALT_BYTES} bytes")
    if not isinstance(limits, KdfLimits):
        raise CryptoError("limits must be a KdfLimits")
    try:
        master = nacl.pwhash.argon2id.kdf(
            KEY_BYTES,
            password.encode("utf-8"),
            salt,
            opslimit=limits.opslimit,
            memlimit=limits.memlimit,
        )
    except (nacl.exceptions.CryptoError, TypeError, ValueError, UnicodeError):
        # PyNaCl's messages are safe, but not chaining them keeps the password's neighbourhood
        # (arguments, locals) out of any rendered traceback.
        raise CryptoError("password key derivation failed (check the KDF limits)") from None
    return PasswordKeys(
        encryption_key=_blake2b(b"", key=master, person=_PERSON_PW_ENC),
        authenticator=_blake2b(b"", key=master, person=_PERSON_PW_AUTH),
    )


def authenticator_digest(authenticator: bytes) -> bytes:
    """Return the value stored in the database for an authenticator."""
    authenticator = _as_key(authenticator, "authenticator")
    # The authenticator is already a uniformly random 32-byte key, so a plain (fast) hash is
    # enough: there is nothing to brute-force that is cheaper than Argon2 on the password.
    return _blake2b(authenticator, key=b"", person=_PERSON_AUTH_DIGEST)


def authenticator_matches(authenticator: bytes, stored_digest: bytes) -> bool:
    """Check an authenticator against a stored digest in constant time."""
    try:
        candidate = authenticator_digest(authenticator)
        stored = _as_bytes(stored_digest, "stored_digest")
    except CryptoError:
        # A malformed authenticator is just a failed sign-in, not a server error.
        return False
    return hmac.compare_digest(candidate, stored)


def new_recovery_code() -> str:
    """Return a new 128-bit recovery code, e.g. ``"ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ"``."""
    text = base64.b32encode(nacl.utils.random(_RECOVERY_CODE_BYTES)).decode("ascii").rstrip("=")
    groups = [text[i : i + _RECOVERY_GROUP] for i in range(0, len(text), _RECOVERY_GROUP)]
    return "-".join(groups)


def _decode_recovery_code(normalised: str) -> bytes:
    padded = normalised + "=" * (-len(normalised) % 8)
    try:
        raw = base64.b32decode(padded)
    except (binascii.Error, ValueError):
        raise CryptoError("not a valid recovery code") from None
    # 26 characters carry 130 bits; the last 2 must be zero or four spellings would name the
    # same code. Re-encoding rejects those non-canonical forms.
    if base64.b32encode(raw).decode("ascii").rstrip("=") != normalised:
        raise CryptoError("not a valid recovery code")
    return raw


def normalise_recovery_code(code: str) -> str:
    """Return the canonical form of a recovery code (26 upper-case base32 characters).

    People retype these codes, so spacing, dashes and case are forgiven; anything else is not.
    """
    if not isinstance(code, str):
        raise CryptoError("recovery code must be a str")
    # Error messages never echo the code: it is a secret.
    compact = "".join(ch for ch in code if not ch.isspace() and ch != "-").upper()
    if len(compact) != _RECOVERY_CODE_CHARS or not set(compact) <= _BASE32_ALPHABET:
        raise CryptoError("not a valid recovery code")
    _decode_recovery_code(compact)
    return compact


def derive_recovery_key(code: str, salt: bytes) -> bytes:
    """Derive the 32-byte key that a recovery code unlocks.

    The code is already 128 random bits, so a slow KDF would add nothing but latency.
    """
    raw = _decode_recovery_code(normalise_recovery_code(code))
    salt = _as_bytes(salt, "salt")
    if len(salt) != SALT_BYTES:
        raise CryptoError(f"salt must be {SALT_BYTES} bytes")
    return _blake2b(salt, key=raw, person=_PERSON_RECOVERY)


def derive_subkey(master_key: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from a configured master key.

    One configured secret serves several uses (sessions, the outbox, backup codes); a
    distinct subkey per purpose means no ciphertext or digest made for one use is ever
    accepted by another.
    """
    master_key = _as_key(master_key, "master_key")
    purpose = _as_bytes(purpose, "purpose")
    return _blake2b(purpose, key=master_key, person=_PERSON_SUBKEY)


def keyed_digest(key: bytes, message: bytes) -> bytes:
    """A keyed BLAKE2b-256 digest: a database copy alone cannot test guesses against it."""
    key = _as_key(key, "key")
    message = _as_bytes(message, "message")
    return _blake2b(message, key=key, person=_PERSON_DIGEST)


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair as raw 32-byte values."""

    public_key: bytes
    private_key: bytes

    def __repr__(self) -> str:
        # The public key is fine to show and helps debugging; the private key never is.
        return f"KeyPair(public_key={self.public_key.hex()}, private_key=<redacted>)"


def token_digest(token: str) -> bytes:
    """What is stored of a random one-time token (a session, an invitation, a reset link):
    SHA-256 is enough for 256 random bits, and a database copy cannot use the digest."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def generate_keypair() -> KeyPair:
    """Generate a new X25519 key pair."""
    private = PrivateKey.generate()
    return KeyPair(public_key=bytes(private.public_key), private_key=bytes(private))


def public_key_of(private_key: bytes) -> bytes:
    """Return the X25519 public key belonging to ``private_key``."""
    private_key = _as_key(private_key, "private_key")
    return bytes(PrivateKey(private_key).public_key)


def new_symmetric_key() -> bytes:
    """Return a fresh random 32-byte key (content keys, session keys)."""
    return nacl.utils.random(KEY_BYTES)


def encrypt(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``key``, bound to ``context``.

    The context is authenticated but not stored, so the blob only opens where the caller
    rebuilds the same context.
    """
    key = _as_key(key, "key")
    plaintext = _as_bytes(plaintext, "plaintext")
    context = _as_bytes(context, "context")
    nonce = nacl.utils.random(_NONCE_BYTES)
    ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, context, nonce, key)
    return _FORMAT_VERSION + nonce + ciphertext


def decrypt(key: bytes, blob: bytes, context: bytes) -> bytes:
    """Open a blob made by :func:`encrypt`; raise :class:`DecryptionFailed` on any problem."""
    key = _as_key(key, "key", DecryptionFailed)
    blob = _as_bytes(blob, "blob", DecryptionFailed)
    context = _as_bytes(context, "context", DecryptionFailed)
    if len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES:
        raise DecryptionFailed("ciphertext could not be opened")
    if blob[:1] != _FORMAT_VERSION:
        raise DecryptionFailed("ciphertext could not be opened")
    nonce = blob[1 : 1 + _NONCE_BYTES]
    ciphertext = blob[1 + _NONCE_BYTES :]
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, context, nonce, key)
    except (nacl.exceptions.CryptoError, TypeError, ValueError):
        # One message for every cause, so a caller (or attacker) learns nothing about which.
        raise DecryptionFailed("ciphertext could not be opened") from None


def _frame_prefix(context: bytes) -> bytes:
    if len(context) > _MAX_CONTEXT_BYTES:
        raise CryptoError(f"context must be at most {_MAX_CONTEXT_BYTES} bytes")
    return len(context).to_bytes(2, "big") + context


def seal_to(public_key: bytes, secret: bytes, context: bytes) -> bytes:
    """Seal ``secret`` so only the holder of the matching private key can open it.

    SealedBox has no associated data, so the context travels inside the box and is checked on
    opening; a seal copied to another letter, version or holder then refuses to open.
    """
    public_key = _as_key(public_key, "public_key")
    secret = _as_bytes(secret, "secret")
    context = _as_bytes(context, "context")
    payload = _frame_prefix(context) + secret
    try:
        box = SealedBox(PublicKey(public_key))
        sealed = box.encrypt(payload)
    except (nacl.exceptions.CryptoError, TypeError, ValueError):
        raise CryptoError("sealing failed") from None
    return _FORMAT_VERSION + bytes(sealed)


def open_sealed(private_key: bytes, sealed: bytes, context: bytes) -> bytes:
    """Open a seal made by :func:`seal_to`; raise :class:`DecryptionFailed` on any problem."""
    private_key = _as_key(private_key, "private_key", DecryptionFailed)
    sealed = _as_bytes(sealed, "sealed", DecryptionFailed)
    context = _as_bytes(context, "context", DecryptionFailed)
    if len(context) > _MAX_CONTEXT_BYTES:
        raise DecryptionFailed("seal could not be opened")
    if sealed[:1] != _FORMAT_VERSION:
        raise DecryptionFailed("seal could not be opened")
    try:
        payload = SealedBox(PrivateKey(private_key)).decrypt(sealed[1:])
    except (nacl.exceptions.CryptoError, TypeError, ValueError):
        raise DecryptionFailed("seal could not be opened") from None
    expected = _frame_prefix(context)
    # Compare the whole length-prefixed frame, not just the context bytes, so a context that is
    # a prefix of another (version 1 vs 12) can never match.
    if len(payload) < len(expected) or not hmac.compare_digest(payload[: len(expected)], expected):
        raise DecryptionFailed("seal could not be opened")
    return payload[len(expected) :]


# --- signatures (the audit trail's checkpoints) ------------------------------------


def new_signing_key() -> SigningKey:
    """An Ed25519 key for signing audit checkpoints."""
    return SigningKey.generate()


def signing_key_from_bytes(seed: bytes) -> SigningKey:
    return SigningKey(_as_bytes(seed, "signing key"))


def sign(signing_key: SigningKey, message: bytes) -> bytes:
    """The detached Ed25519 signature of `message`."""
    return signing_key.sign(message).signature


def signature_valid(verify_key: VerifyKey, message: bytes, signature: bytes) -> bool:
    try:
        verify_key.verify(message, signature)
    except (nacl.exceptions.BadSignatureError, ValueError):
        return False
    return True
