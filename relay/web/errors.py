"""Error pages: every refusal and failure becomes a page in one place, and a domain error
its status (docs/architecture.md, "What may import what")."""

import logging

from flask import Flask
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException

from relay.extensions import db
from relay.services.errors import AccessPending
from relay.services.errors import DomainError
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound

log = logging.getLogger(__name__)


def error_page(status: int, title: str, message: str):
    return render_template("errors/error.html", title=title, message=message), status


def _domain_error(error: DomainError):
    # The service's transaction has already rolled back whatever it had begun.
    if isinstance(error, NotFound):
        return _not_found(error)
    if isinstance(error, AccessPending):
        return error_page(
            403,
            "Waiting for access",
            str(error) + ".",
        )
    if isinstance(error, NotAllowed):
        return error_page(403, "You cannot do this", str(error))
    if isinstance(error, InvalidTransition):
        return error_page(409, "This cannot be done now", str(error))
    return error_page(400, "Something was not right", str(error))


def _not_found(_error):
    return error_page(
        404,
        "Page not found",
        "If you typed the web address, check it is "
        "correct. If you followed a link, it may have expired.",
    )


def _http_error(error: HTTPException):
    if error.code == 404:
        return _not_found(error)
    if error.code == 429:
        return error_page(
            429,
            "Too many attempts",
            "You have tried too many times. Wait a few minutes, then try again.",
        )
    return error_page(error.code or 500, error.name, error.description or "")


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
    return error_page(
        500,
        "Sorry, there is a problem with the service",
        "Nothing you sent has been lost or passed on. Please try again later.",
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
