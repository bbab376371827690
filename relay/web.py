"""The web glue in one place: the session helper, error pages and response headers."""

import logging

from flask import Flask
from flask import abort
from flask import current_app
from flask import render_template
from flask import request
from flask import session
from flask_login import AnonymousUserMixin
from flask_login import current_user
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from relay.extensions import db
from relay.extensions import login_manager
from relay.models import CaseState
from relay.models import LetterState
from relay.services import signing_in
from relay.services import states
from relay.services.actor import Actor
from relay.services.errors import AccessPending
from relay.services.errors import DomainError
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.settings import ServiceSettings
from relay.services.settings import settings_from_config

log = logging.getLogger(__name__)

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


def _error_page(status: int, title: str, message: str):
    return render_template("errors/error.html", title=title, message=message), status


def _domain_error(error: DomainError):
    # The service's transaction has already rolled back whatever it had begun.
    if isinstance(error, NotFound):
        return _not_found(error)
    if isinstance(error, AccessPending):
        return _error_page(
            403,
            "Waiting for access",
            str(error) + ".",
        )
    if isinstance(error, NotAllowed):
        return _error_page(403, "You cannot do this", str(error))
    if isinstance(error, InvalidTransition):
        return _error_page(409, "This cannot be done now", str(error))
    return _error_page(400, "Something was not right", str(error))


def _not_found(_error):
    return _error_page(
        404,
        "Page not found",
        "If you typed the web address, check it is "
        "correct. If you followed a link, it may have expired.",
    )


def _http_error(error: HTTPException):
    if error.code == 404:
        return _not_found(error)
    if error.code == 429:
        return _error_page(
            429,
            "Too many attempts",
            "You have tried too many times. Wait a few minutes, then try again.",
        )
    return _error_page(error.code or 500, error.name, error.description or "")


def _server_error(error: Exception):
    # Roll back so that nothing half-done is committed. Always log the traceback, or a fault
    # cannot be found; but never the request: the endpoint's name, not the path (reset and
    # invitation tokens are in paths), and no form, body or query. logging formats a
    # traceback's frames without their local variables, so the values a view held (a
    # password, letter text) are not in it; and the engines hide SQL parameters
    # (relay/database.py), so a database error does not carry them in its message.
    log.error(
        "unhandled %s in %s %s",
        type(error).__name__,
        request.method,
        request.endpoint,
        exc_info=error,
    )
    # An unexpected error may have come outside any transaction (a read that failed):
    # discard what the session holds, so the error page itself can render.
    db().rollback()
    return _error_page(
        500,
        "Sorry, there is a problem with the service",
        "Nothing you sent has been lost or passed on. Please try again later.",
    )


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    "report-uri /csp-report"
)


def record_csp_violation(directive: str) -> None:
    log.warning("content security policy violation: %s", directive)
    current_app.extensions.setdefault("relay.csp_violations", []).append(directive)


def _headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if current_app.config["HSTS"]:
        response.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if not response.mimetype.startswith(("text/css", "application/javascript", "image/")):
        response.headers["Cache-Control"] = "no-store"
    return response


# PostgreSQL's integer columns end at 2**31 - 1; a larger id in a URL would fail in the
# database (a 500) instead of simply naming nothing (a 404).
DATABASE_INT_MAX = 2**31 - 1


class DatabaseIntConverter(IntegerConverter):
    """`<int:…>` in every route: an id beyond the database's integers matches no route."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", DATABASE_INT_MAX)
        super().__init__(url_map, *args, **kwargs)


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _json_body() -> object:
    # CSP reports come as application/csp-report: JSON under another name.
    if request.is_json or request.mimetype == "application/csp-report":
        return request.get_json(force=True, silent=True)
    return None


def _texts(fields) -> list[str]:
    return [text for pair in fields.items(multi=True) for text in pair]


def _refuse_nul():
    """No text with a NUL byte reaches a view: PostgreSQL refuses it (a 500), and no person
    types one. Paths, query arguments, form fields (names and values) and JSON strings."""
    sent = [request.path, *_texts(request.args)]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent += _texts(request.form)
    if any("\x00" in text for text in sent) or _holds_nul(_json_body()):
        return _bad_input()
    return None


def _bad_input():
    return _error_page(
        400,
        "Something was not right",
        "Part of what was sent holds a character that cannot be used. "
        "Go back, type it again and try once more.",
    )


def trust_proxies(app: Flask, hops: int) -> None:
    """Take the client's address from the X-Forwarded-For of `hops` proxies we run.

    Only the address: rate limits key on it. Not X-Forwarded-Proto: it would make requests
    look like HTTPS, and Flask-WTF then wants a same-origin Referer on every form, which
    browsers never send here (Referrer-Policy: no-referrer), so every form would be refused;
    cookies are Secure and HSTS is sent by configuration anyway. Not X-Forwarded-Host:
    e-mailed links are built from BASE_URL, so nothing needs it, and a host taken from a
    header is a host an attacker may choose.
    """
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=0, x_host=0, x_port=0)


def init_app(app: Flask) -> None:
    # Before any blueprint is registered: routes take their converters when they are added.
    app.url_map.converters["int"] = DatabaseIntConverter
    trust_proxies(app, app.config["TRUSTED_PROXY_HOPS"])
    app.extensions["relay.settings"] = settings_from_config(app.config)
    login_manager.request_loader(_load_from_session)
    login_manager.anonymous_user = Anonymous
    login_manager.login_view = "auth.sign_in"
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    app.before_request(_refuse_nul)
    app.after_request(_headers)

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
