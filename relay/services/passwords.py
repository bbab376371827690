"""The password rule: long enough and not among the most common passwords."""

from functools import cache
from pathlib import Path

from relay.services.errors import InvalidInput
from relay.services.limits import PASSWORD_CHARACTERS
from relay.services.limits import PASSWORD_MIN_CHARACTERS

COMMON_PASSWORDS = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"


@cache
def _common() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def check_new_password(password: str, *, email: str = "", name: str = "") -> None:
    """Raise InvalidInput (field "password") if the password may not be used."""
    if len(password) < PASSWORD_MIN_CHARACTERS:
        raise InvalidInput(
            f"Your password must be at least {PASSWORD_MIN_CHARACTERS} characters", "password"
        )
    if len(password) > PASSWORD_CHARACTERS:
        raise InvalidInput(
            f"Your password must be {PASSWORD_CHARACTERS} characters or fewer", "password"
        )
    folded = password.strip().lower()
    if folded in _common():
        raise InvalidInput(
            "This password is one of the most common passwords. Choose one that is harder "
            "to guess, for example three or four unrelated words",
            "password",
        )
    personal = {email.lower(), email.split("@")[0].lower(), name.lower()} - {""}
    if folded in personal:
        raise InvalidInput("Your password must not be your name or e-mail address", "password")
