"""What every response carries: the content security policy and the other security headers."""

import logging
import re

from flask import Flask
from flask import current_app

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    "report-uri /csp-report"
)


def record_csp_violation(directive: str) -> None:
    """A browser reported that the policy blocked something: logged (the directive only,
    never the page's content), for an operator to see an injection that was stopped. The
    directive comes from the client: only letters and hyphens are kept, so a report cannot
    write a line of its own into the log."""
    log.warning("content security policy violation: %s", re.sub(r"[^a-z-]", "", directive))


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


def init_app(app: Flask) -> None:
    app.after_request(_headers)
