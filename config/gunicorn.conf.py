"""gunicorn's settings for Relay in production: `gunicorn -c config/gunicorn.conf.py wsgi:app`
(docs/deploy.md). Everything a host differs in comes from the environment."""

import os

# Behind the TLS-terminating proxy on the same host; the proxy is the only way in.
bind = os.environ.get("RELAY_BIND", "127.0.0.1:8000")
# Relay reads WEB_CONCURRENCY too (it refuses several workers on per-process rate limits).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
# A request that takes longer is stuck (the slowest step, sign-in, is one Argon2id run).
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, so a slow leak can never grow without bound.
max_requests = 2000
max_requests_jitter = 200
# Request size limits before Flask sees anything (Flask caps bodies at 6 MB itself).
limit_request_line = 4094
limit_request_fields = 100
# No access log: paths name letters and cases, and the proxy keeps what operations need.
accesslog = None
errorlog = "-"
loglevel = "info"
# Each worker opens its own database pool after the fork.
preload_app = False
