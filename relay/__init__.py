"""Relay: moderated, encrypted letters between the people in a restorative justice case."""

from pathlib import Path

from flask import Flask

from config.settings import load_settings
from relay.database import make_engine
from relay.database import make_session_factory
from relay.extensions import close_db
from relay.extensions import csrf
from relay.extensions import limiter
from relay.extensions import login_manager
from relay.extensions import mail

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    env = (test_config or {}).get("RELAY_ENV")
    app.config.update(load_settings(env))
    if test_config:
        app.config.update(test_config)

    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["relay.engine"] = engine
    app.extensions["relay.sessionmaker"] = make_session_factory(engine)
    app.teardown_appcontext(close_db)

    mail.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from relay import web

    web.init_app(app)

    from relay.views import register_blueprints

    register_blueprints(app)

    from relay.cli import register_commands

    register_commands(app)
    return app
