"""Blueprints by audience. Each has one gate (`require_roles`) in front of all its pages."""

from collections.abc import Iterable

from flask import Blueprint
from flask import Flask
from flask import abort
from flask_login import current_user

from relay.models import Role
from relay.views.auth import ask_to_sign_in


def require_roles(blueprint: Blueprint, roles: Iterable[Role]) -> None:
    """Every page of `blueprint` needs one of `roles`. Someone signed in with another role
    gets 404 (nothing leaks); someone not signed in (or no longer: the idle limit) is asked
    to sign in, the same way for every page, and comes back here afterwards."""
    allowed = frozenset(roles)

    @blueprint.before_request
    def _gate():
        if not current_user.is_authenticated:
            return ask_to_sign_in()
        if current_user.role not in allowed:
            abort(404)


def register_blueprints(app: Flask) -> None:
    from relay.views import admin
    from relay.views import auth
    from relay.views import cases
    from relay.views import dashboard
    from relay.views import party
    from relay.views import review

    for module in (auth, admin, cases, review, party, dashboard):
        app.register_blueprint(module.bp)
