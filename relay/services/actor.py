"""The signed-in person as services see them: their account and their private key."""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from relay.models import Role
from relay.models import User
from relay.models import UserSession
from relay.services import keys


@dataclass
class Actor:
    """Who is acting. The private key was unsealed from their session for this request
    only (docs/security.md, "Sessions"); services use it to open what is sealed to them."""

    user: User
    private_key: bytes
    # The sign-in this request came through (None for a command run on the server).
    sign_in: UserSession | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def role(self) -> Role:
        return self.user.role

    def case_private_key(self, session: Session, case_id: int) -> bytes:
        return keys.case_private_key(session, self.user, self.private_key, case_id)
