"""Signing in and out, activating an invitation, resetting a password."""

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user

from relay import web
from relay.extensions import db
from relay.forms import ActionForm
from relay.forms import NewPasswordForm
from relay.forms import NoticesForm
from relay.forms import ResetForm
from relay.forms import ResetRequestForm
from relay.forms import SignInForm
from relay.forms import show_error
from relay.models import Role
from relay.services import accounts
from relay.services.errors import InvalidInput

bp = Blueprint("auth", __name__)

HOME_BY_ROLE = {
    Role.ADMINISTRATOR: "admin.home",
    Role.FACILITATOR: "cases.home",
    Role.VICTIM: "party.home",
    Role.OFFENDER: "party.home",
}


@bp.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for(HOME_BY_ROLE[current_user.role]))
    return redirect(url_for("auth.sign_in"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        try:
            signed_in = accounts.sign_in(
                db(), web.settings(), email=form.email.data, password=form.password.data
            )
        except InvalidInput as error:
            show_error(form, error, "email")
        else:
            web.begin_session(signed_in.token)
            # Only known pages: never a redirect to an address from the request.
            return redirect(url_for(HOME_BY_ROLE[signed_in.user.role]))
    return render_template("auth/sign_in.html", form=form)


@bp.post("/sign-out")
def sign_out():
    if ActionForm().validate_on_submit():
        web.end_session()
    return redirect(url_for("auth.signed_out"))


@bp.get("/signed-out")
def signed_out():
    return render_template("auth/signed_out.html")


@bp.route("/activate/<token>", methods=["GET", "POST"])
def activate(token: str):
    invitation = accounts.open_invitation(db(), token)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            created = accounts.accept_invitation(
                db(), web.settings(), token=token, password=form.password.data
            )
        except InvalidInput as error:
            show_error(form, error, "password")
        else:
            return render_template(
                "auth/recovery_code.html", code=created.recovery_code, email=created.user.email
            )
    return render_template("auth/activate.html", form=form, invitation=invitation)


@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        accounts.request_password_reset(db(), web.settings(), email=form.email.data)
        return render_template("auth/reset_sent.html")
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    accounts.open_password_reset(db(), token)
    form = ResetForm()
    if form.validate_on_submit():
        try:
            if form.recovery_code.data:
                code = accounts.reset_password(
                    db(),
                    web.settings(),
                    token=token,
                    recovery_code=form.recovery_code.data,
                    new_password=form.password.data,
                )
            else:
                code = accounts.reset_password_without_code(
                    db(), web.settings(), token=token, new_password=form.password.data
                )
        except InvalidInput as error:
            show_error(form, error, "password")
        else:
            return render_template("auth/recovery_code.html", code=code, reset=True)
    return render_template("auth/reset.html", form=form)


@bp.route("/account/e-mails", methods=["GET", "POST"])
def notices():
    actor = web.actor()
    form = NoticesForm(notices=actor.user.notice_preference.value)
    if form.validate_on_submit():
        accounts.set_notice_preference(db(), actor, form.notices.data)
        return redirect(url_for("auth.home"))
    return render_template("auth/notices.html", form=form)
