"""The app gunicorn serves to the race tests: `tests.concurrency.wsgi:make_app()`.

Configured only from the environment the `server` fixture passes, so that each worker
builds its own app (and its own engine) after the fork.
"""

import os

from flask import Flask

from relay import create_app


def make_app() -> Flask:
    return create_app(
        {
            "RELAY_ENV": "test",
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "AUDIT_SIGNING_KEY_PATH": os.environ["AUDIT_SIGNING_KEY_PATH"],
            # The racing clients post bare forms. CSRF is a separate rule with its own
            # tests (tests/web/test_web_hardening.py); a token changes no race.
            "WTF_CSRF_ENABLED": False,
        }
    )
