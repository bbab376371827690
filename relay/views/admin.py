"""The administrator's pages: staff, their access, and the audit trail's health."""

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from sqlalchemy import select

from relay import audit
from relay import web
from relay.extensions import db
from relay.forms import CheckpointsFileForm
from relay.forms import InviteStaffForm
from relay.forms import RestoreAccessForm
from relay.forms import show_error
from relay.models import Role
from relay.models import User
from relay.services import access
from relay.services import invitations
from relay.services import keys
from relay.services.errors import InvalidInput
from relay.views import require_roles

bp = Blueprint("admin", __name__, url_prefix="/admin")
require_roles(bp, [Role.ADMINISTRATOR])


@bp.get("/")
def home():
    staff = (
        db()
        .scalars(
            select(User)
            .where(User.role.in_([Role.ADMINISTRATOR, Role.FACILITATOR]))
            .order_by(User.id)
        )
        .all()
    )
    waiting = {user.id for user in access.administrators_without_escrow(db())}
    waiting |= {user.id for user in access.staff_reset_without_code(db())}
    return render_template(
        "admin/home.html", staff=staff, waiting=waiting, escrow_holders=keys.escrow_holders(db())
    )


@bp.route("/people/<int:user_id>/access", methods=["GET", "POST"])
def restore_access(user_id: int):
    """Access to letters is given back only here, by a person who checked with them."""
    person = access.staff_member(db(), web.actor(), user_id)
    form = RestoreAccessForm()
    if form.validate_on_submit():
        try:
            restored = access.restore_staff_access(
                db(), web.actor(), user_id, checked_in_person=form.checked.data
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
                db(), web.settings(), web.actor(), email=form.email.data, name=form.name.data
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
    kept = None
    if form.validate_on_submit():
        try:
            kept = audit.read_checkpoints(form.contents)
        except audit.InvalidExport as error:
            form.export.errors.append(str(error))
    key = audit.load_signing_key(current_app.config["AUDIT_SIGNING_KEY_PATH"]).verify_key
    result = audit.verify(db(), key, kept=kept)
    return render_template("admin/audit.html", result=result, form=form, kept=kept)
