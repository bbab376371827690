"""Flask extensions and the per-request database session."""

from flask import current_app
from flask import g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

login_manager = LoginManager()
mail = Mail()
csrf = CSRFProtect()
# Memory storage by default; RATELIMIT_STORAGE_URI (e.g. redis://…) shares counts between
# workers. Behind a proxy, TRUSTED_PROXY_HOPS makes the remote address the client's.
limiter = Limiter(key_func=get_remote_address)


def db() -> Session:
    """This request's database session; closed (and rolled back) at teardown."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["relay.sessionmaker"]()
    return g.db_session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
