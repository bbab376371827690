"""The few domain errors; views map them to pages in one place."""


class DomainError(Exception):
    """Base class. The message is safe to show to the person who acted."""


class NotFound(DomainError):
    """It does not exist, or the person may not know that it does (shown as 404)."""


class NotAllowed(DomainError):
    """The person may see this but not do that (shown as 403)."""


class InvalidTransition(DomainError):
    """The thing is not in a state that allows this action (shown as 409)."""


class InvalidInput(DomainError):
    """Input breaks a rule; `field` names the form field it belongs to."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AccessPending(DomainError):
    """Keys are waiting to be given back by a person (after a reset without the recovery
    code), or an administrator has not been granted the escrow key yet."""


class SignInFailed(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The e-mail address or password is not right", "email")


class TooManyAttempts(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            "There have been too many attempts to sign in to this account. "
            "Wait 15 minutes and try again, or reset your password",
            "email",
        )
