"""Flask extensions and the per-request database session."""

from flask import current_app
from flask import g
from flask_login import LoginManager
from flask_mail import Mail
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

login_manager = LoginManager()
mail = Mail()
csrf = CSRFProtect()


def db() -> Session:
    """This request's database session; closed (and rolled back) at teardown."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["relay.sessionmaker"]()
    return g.db_session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
