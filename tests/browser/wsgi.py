"""The app gunicorn serves to the browser tests: `tests.browser.wsgi:make_app()`.

Configured only from the environment the `site` fixture passes (see server.py), so that
the server and the test's own app, which builds the world and runs the outbox worker,
are made from one set of settings: the same database file, signing key and address.
"""

import json
import os
import warnings

from flask import Flask

from relay import create_app

CONFIG_VARIABLE = "RELAY_BROWSER_TEST_CONFIG"


def make_app() -> Flask:
    # pytest's `filterwarnings = error`, for the code under test in this process too: a
    # warning in a request becomes a 500, which the browser tests fail on. A warning in
    # gunicorn's own socket clean-up (a dropped connection) is only printed to the log.
    warnings.simplefilter("error")
    return create_app(json.loads(os.environ[CONFIG_VARIABLE]))
