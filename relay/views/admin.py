"""The administrator's pages: staff, their access, and the audit trail's health."""

from pathlib import Path

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from relay.extensions import db
from relay.forms import CheckpointsFileForm
from relay.forms import InviteStaffForm
from relay.forms import RestoreAccessForm
from relay.forms import show_error
from relay.models import Role
from relay.services import access
from relay.services import invitations
from relay.services import trail
from relay.services.errors import InvalidInput
from relay.views import require_roles
from relay.web import signed_in

bp = Blueprint("admin", __name__, url_prefix="/admin")
require_roles(bp, [Role.ADMINISTRATOR])


@bp.get("/")
def home():
    overview = access.staff_overview(db(), signed_in.actor(), request.args.get("page", 1, type=int))
    return render_template(
        "admin/home.html",
        staff=overview.staff,
        waiting=overview.waiting,
        waiting_count=overview.waiting_count,
        escrow_holders=overview.escrow_holders,
    )


@bp.route("/people/<int:user_id>/access", methods=["GET", "POST"])
def restore_access(user_id: int):
    """Access to letters is given back only here, by a person who checked with them."""
    person = access.staff_member(db(), signed_in.actor(), user_id)
    form = RestoreAccessForm()
    if form.validate_on_submit():
        try:
            restored = access.restore_staff_access(
                db(), signed_in.actor(), user_id, checked_in_person=form.checked.data
            )
        except InvalidInput as error:
            show_error(form, error, "checked")
        else:
            flash(f"Access restored for {person.name}: {restored} case(s)")
            return redirect(url_for("admin.home"))
    return render_template("admin/access.html", person=person, form=form)


@bp.route("/invite", methods=["GET", "POST"])
def invite():
    form = InviteStaffForm()
    if form.validate_on_submit():
        try:
            invitations.invite_staff(
                db(),
                signed_in.settings(),
                signed_in.actor(),
                email=form.email.data,
                name=form.name.data,
            )
        except InvalidInput as error:
            show_error(form, error, "email")
        else:
            flash(f"Invitation sent to {form.email.data}")
            return redirect(url_for("admin.home"))
    return render_template("admin/invite.html", form=form)


@bp.route("/audit", methods=["GET", "POST"])
def audit_status():
    # POST only carries a file to compare with; nothing is changed.
    form = CheckpointsFileForm()
    path = Path(current_app.config["AUDIT_SIGNING_KEY_PATH"])
    checked = None
    if form.validate_on_submit():
        try:
            checked = trail.check_trail(db(), signed_in.actor(), path, form.contents)
        except InvalidInput as error:
            show_error(form, error, "export")
    if checked is None:
        checked = trail.check_trail(db(), signed_in.actor(), path)
    return render_template(
        "admin/audit.html",
        result=checked.result,
        form=form,
        kept=checked.kept,
        since=checked.since,
    )
