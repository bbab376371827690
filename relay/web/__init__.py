"""The web side that is not a page: the signed-in person, error pages, response headers and
request guards, each in its own module; `init_app` wires them in, before any blueprint."""

from flask import Flask

from relay.web import errors
from relay.web import headers
from relay.web import requests
from relay.web import signed_in


def init_app(app: Flask) -> None:
    requests.init_app(app)  # first: routes take their converters when they are added
    signed_in.init_app(app)
    errors.init_app(app)
    headers.init_app(app)
