"""The few settings services need, as plain values (services never read Flask config)."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from relay import crypto
from relay import keyring
from relay.services.working_days import Calendar


@dataclass(frozen=True)
class ServiceSettings:
    base_url: str
    kdf_limits: crypto.KdfLimits
    session_key: bytes
    invitation_days: int = 7
    reset_hours: int = 2
    party_idle_minutes: int = 15
    staff_idle_minutes: int = 30
    absolute_session_hours: int = 12
    staff_second_factor: bool = True
    lockout_after_failures: int = 5
    lockout_max_minutes: int = 15
    review_target_working_days: int = 5
    bank_holidays_subdivision: str = "ENG"
    # Whole years a closed case's texts are kept after it closed (relay/services/retention.py).
    retention_years: int = 2
    # The service's postal address on a cover sheet, one line per line; "" when not set.
    return_address: str = ""

    @property
    def outbox_key(self) -> bytes:
        # A separate key from the session key's own use, so one ciphertext
        # can never be opened as the other.
        return crypto.derive_subkey(self.session_key, keyring.OUTBOX_PURPOSE)

    @property
    def backup_code_key(self) -> bytes:
        # Backup codes are stored as keyed digests: a database copy without the
        # configured key gives nothing to search offline.
        return crypto.derive_subkey(self.session_key, keyring.BACKUP_CODES_PURPOSE)

    @property
    def calendar(self) -> Calendar:
        """The working days the review target counts."""
        return Calendar(self.bank_holidays_subdivision)

    def link(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


def settings_from_config(config: Mapping) -> ServiceSettings:
    """Build from a plain mapping (Flask's config or load_settings())."""
    return ServiceSettings(
        base_url=config["BASE_URL"],
        kdf_limits=crypto.KdfLimits(config["ARGON2_OPSLIMIT"], config["ARGON2_MEMLIMIT"]),
        session_key=base64.b64decode(config["SESSION_KEY"]),
        invitation_days=config["INVITATION_DAYS"],
        reset_hours=config["RESET_HOURS"],
        party_idle_minutes=config["PARTY_IDLE_MINUTES"],
        staff_idle_minutes=config["STAFF_IDLE_MINUTES"],
        absolute_session_hours=config["ABSOLUTE_SESSION_HOURS"],
        staff_second_factor=config["STAFF_SECOND_FACTOR"],
        lockout_after_failures=config["LOCKOUT_AFTER_FAILURES"],
        lockout_max_minutes=config["LOCKOUT_MAX_MINUTES"],
        review_target_working_days=config["REVIEW_TARGET_WORKING_DAYS"],
        bank_holidays_subdivision=config["BANK_HOLIDAYS_SUBDIVISION"],
        retention_years=config["RETENTION_YEARS"],
        return_address=config["RETURN_ADDRESS"],
    )
