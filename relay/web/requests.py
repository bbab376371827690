"""What a request must be before any view sees it: ids the database can hold, no NUL
bytes, and the client's address taken only from proxies we run."""

from flask import Flask
from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from relay.web.errors import error_page

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
    return error_page(
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
    app.before_request(_refuse_nul)
