"""The signed-in person, as the views see them: the session cookie's token, the actor
services take, and what pages may ask about them (docs/architecture.md, "A request's path")."""

from flask import Flask
from flask import abort
from flask import current_app
from flask import session
from flask_login import AnonymousUserMixin
from flask_login import current_user

from relay.extensions import db
from relay.extensions import login_manager
from relay.models import CaseState
from relay.models import LetterState
from relay.services import signing_in
from relay.services import states
from relay.services.actor import Actor
from relay.services.settings import ServiceSettings
from relay.services.settings import settings_from_config

# The name of the cookie-session key that holds the token: a name, not a secret.
SESSION_TOKEN = "sid"  # noqa: S105  # nosec B105


class SignedInUser:
    """What Flask-Login sees: the account, with the actor for services beside it."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.user = actor.user
        self.role = actor.user.role

    def get_id(self) -> str:
        return str(self.user.id)


class Anonymous(AnonymousUserMixin):
    role = None


def settings() -> ServiceSettings:
    return current_app.extensions["relay.settings"]


def actor() -> Actor:
    """The signed-in person as services take them; 404 if nobody is signed in."""
    if not current_user.is_authenticated:
        abort(404)
    return current_user.actor


def begin_session(token: str) -> None:
    # A fresh cookie at sign-in, so a session id planted before it is useless.
    session.clear()
    session[SESSION_TOKEN] = token
    session.permanent = False


def session_token() -> str | None:
    """The token of this browser's sign-in, finished or halfway (second step to come)."""
    return session.get(SESSION_TOKEN)


def end_session() -> None:
    token = session.get(SESSION_TOKEN)
    if token:
        signing_in.sign_out(db(), token)
    session.clear()


def _load_from_session(_request) -> SignedInUser | None:
    token = session.get(SESSION_TOKEN)
    if not token:
        return None
    # A token that gives no one may be halfway through the second step: keep it.
    found = signing_in.resume_session(db(), settings(), token)
    return SignedInUser(found) if found is not None else None


def _allowed_actions(letter) -> frozenset:
    if not current_user.is_authenticated:
        return frozenset()
    return states.allowed_actions(letter, current_user.actor)


def _allowed_case_actions(case) -> frozenset:
    if not current_user.is_authenticated:
        return frozenset()
    return states.allowed_case_actions(case, current_user.actor)


def init_app(app: Flask) -> None:
    app.extensions["relay.settings"] = settings_from_config(app.config)
    login_manager.request_loader(_load_from_session)
    login_manager.anonymous_user = Anonymous
    login_manager.login_view = "auth.sign_in"

    @app.context_processor
    def _template_globals():
        # Pages ask the one table which actions to offer; they never list states themselves.
        return {
            "service_name": "Relay",
            "allowed_actions": _allowed_actions,
            "allowed_case_actions": _allowed_case_actions,
            "LetterAction": states.LetterAction,
            "CaseAction": states.CaseAction,
            "LetterState": LetterState,
            "CaseState": CaseState,
        }
