"""The two apps the load test serves under gunicorn, as factories gunicorn calls in each
worker: `gunicorn 'bench.load_app:relay()'` and `gunicorn 'bench.load_app:bare()'`.

Both read where their database is from the environment the load test sets
(BENCH_LOAD_URL, and for Relay BENCH_LOAD_KEY: the audit signing key the world was built
with). Relay runs with the test settings (no CSRF tokens, fast Argon2id), as the test
client's rows do, so the load client does not have to scrape forms.
"""

import os

from flask import Flask

from bench import harness  # noqa: F401  (the fast Argon2id limits, before the app is made)
from relay import create_app


def relay() -> Flask:
    return create_app(
        {
            "RELAY_ENV": "test",
            "DATABASE_URL": os.environ["BENCH_LOAD_URL"],
            "AUDIT_SIGNING_KEY_PATH": os.environ["BENCH_LOAD_KEY"],
            "WTF_CSRF_ENABLED": False,
        }
    )


def bare() -> Flask:
    from bench.baseline import Baseline

    return Baseline(os.environ["BENCH_LOAD_URL"], create=False).app
