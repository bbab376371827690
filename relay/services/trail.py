"""The audit trail's health, as the administrator's page shows it (docs/security.md,
"The audit trail"): the chain recomputed, and compared with checkpoints kept off the server."""

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from relay import audit
from relay.models import AuditVerification
from relay.models import Role
from relay.services.actor import Actor
from relay.services.errors import InvalidInput
from relay.services.errors import NotAllowed


@dataclass(frozen=True)
class TrailCheck:
    result: audit.Verification
    kept: audit.CheckpointFile | None
    # The scheduled whole-chain check this one follows on from, if it checked only since.
    since: AuditVerification | None = None


def check_trail(
    session: Session, actor: Actor, signing_key_path: Path, kept_file: bytes | None = None
) -> TrailCheck:
    """Verify the chain; with `kept_file` (an export's text), all of it, and it must extend
    those checkpoints too. Without one, only what was appended since the last clean
    whole-chain check by the scheduled command (`flask audit verify`), linked to where that
    ended; all of it if there is none. Changes nothing. A file that is not an export is
    InvalidInput."""
    if actor.role != Role.ADMINISTRATOR:
        raise NotAllowed("Only an administrator can do this")
    kept = None
    if kept_file is not None:
        try:
            kept = audit.read_checkpoints(kept_file)
        except audit.InvalidExport as error:
            raise InvalidInput(str(error), "export") from None
    verify_key = audit.load_signing_key(signing_key_path).verify_key
    since = audit.last_clean_verification(session) if kept is None else None
    return TrailCheck(audit.verify(session, verify_key, kept=kept, after=since), kept, since)
