"""The signed-in person, as the views see them: the session cookie's token, the actor
services take, and what pages may ask about them (docs/architecture.md, "A request's path")."""

from flask import Flask
from flask import abort
from flask import current_app
from flask import flash
from flask import session
from flask import url_for
from flask_login import AnonymousUserMixin
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from relay.extensions import db
from relay.extensions import login_manager
from relay.models import CaseState
from relay.models import LetterState
from relay.services import letters
from relay.services import second_factor
from relay.services import signing_in
from relay.services import states
from relay.services.actor import Actor
from relay.services.settings import ServiceSettings
from relay.services.settings import settings_from_config

# The name of the cookie-session key that holds the token: a name, not a secret.
SESSION_TOKEN = "sid"  # noqa: S105  # nosec B105
# Where to go back to once a second step is done, and whose letter text a sign-in carries:
# a page's path and a user id, never the text itself.
RETURN_TO = "return_to"
CARRIED_FOR = "carried_for"

# Said once, on the sign-in page, after a session ended without the person signing out.
TIMED_OUT = "You were signed out to keep you safe; your draft is saved"


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


def end_session(*, left_the_site: bool = False) -> None:
    token = session.get(SESSION_TOKEN)
    if token:
        signing_in.sign_out(db(), token, left_the_site=left_the_site)
    session.clear()


def keep_alive() -> bool:
    token = session.get(SESSION_TOKEN)
    return bool(token) and signing_in.keep_alive(db(), settings(), token)


def time_out() -> None:
    """End the session on the page's word, but keep its token in the cookie: the next page
    then knows this browser was signed out for being idle, not by the person."""
    token = session.get(SESSION_TOKEN)
    if token:
        signing_in.time_out(db(), token)


def close_ended_session() -> int | None:
    """If this browser's sign-in ended without the person signing out (idle, the absolute
    limit, or ended from another device): say so once, forget its token, and return whose
    it was. None if nothing ended here (never signed in, signed out, or still signed in)."""
    token = session.get(SESSION_TOKEN)
    if not token or current_user.is_authenticated:
        return None
    if second_factor.pending_user(db(), token) is not None:
        return None  # halfway through signing in: the second step still needs it
    record = signing_in.session_record(db(), token)
    session.pop(SESSION_TOKEN)
    flash(TIMED_OUT)
    return record.user_id if record is not None else None


def return_path(value: str | None, method: str = "GET") -> str | None:
    """`value` as a page of this site to send someone back to after signing in, or None.

    Only a path that one of Relay's own routes answers, rebuilt by `url_for` from what the
    route matched: never an address taken from the request as it came. Refused: anything
    not starting with a single "/", backslashes (browsers read "/\\host" as "//host"),
    schemes, hosts, control characters, queries, and the sign-in pages themselves."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if any(character in value for character in "\\?#:@") or not value.isprintable():
        return None
    try:
        endpoint, values = current_app.url_map.bind("localhost").match(value, method=method)
    except HTTPException:  # no route, another method, or a redirect to a canonical path
        return None
    if endpoint == "static" or (endpoint.startswith("auth.") and endpoint not in _AUTH_PAGES):
        return None
    return url_for(endpoint, **values)


# Pages of the account blueprint worth coming back to; its other pages sign in and out.
_AUTH_PAGES = frozenset({"auth.notices", "auth.sessions"})


def remember_return(path: str | None) -> None:
    """Keep where to return for after the second step (this runs after `begin_session`)."""
    if path:
        session[RETURN_TO] = path


def take_return() -> str | None:
    return return_path(session.pop(RETURN_TO, None))


def carry_letter_for(user_id: int) -> None:
    """A letter's text is on its way through the sign-in page: only `user_id` may save it."""
    session[CARRIED_FOR] = user_id


def letter_carried_for() -> int | None:
    return session.get(CARRIED_FOR)


def actor_of_token(token: str) -> Actor | None:
    """The person a sign-in has just made a session for, within the sign-in's request (the
    request itself started without anyone signed in)."""
    return signing_in.resume_session(db(), settings(), token)


def _session_clock() -> signing_in.TimeLeft | None:
    """How long the signed-in person has, for the warning before the idle limit."""
    if not current_user.is_authenticated:
        return None
    # The row this request was resumed from: no second query.
    record = current_user.actor.sign_in
    return signing_in.time_left(settings(), record) if record is not None else None


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


def _review_count() -> int:
    """How many letters wait for review for the signed-in staff member: the staff
    navigation shows it on every page, as one count."""
    if not current_user.is_authenticated or not current_user.role.is_staff:
        return 0
    return letters.review_count(db(), current_user.actor)


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
            "session_clock": _session_clock,
            "review_count": _review_count,
            "LetterAction": states.LetterAction,
            "CaseAction": states.CaseAction,
            "LetterState": LetterState,
            "CaseState": CaseState,
        }
