"""The administrator's pages: staff, their access, invitations, a facilitator leaving, and
the audit trail's health."""

from pathlib import Path

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from relay.extensions import db
from relay.forms import ActionForm
from relay.forms import CheckpointsFileForm
from relay.forms import CloseAccountForm
from relay.forms import HandOverForm
from relay.forms import InviteStaffForm
from relay.forms import RestoreAccessForm
from relay.forms import show_error
from relay.models import Role
from relay.services import access
from relay.services import invitations
from relay.services import my_data
from relay.services import retention
from relay.services import staff
from relay.services import trail
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.views import require_roles
from relay.views.party import my_data_file
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


@bp.get("/invitations")
def pending_invitations():
    pending = invitations.pending_staff_invitations(
        db(), signed_in.actor(), request.args.get("page", 1, type=int)
    )
    return render_template(
        "admin/invitations.html",
        invitations=pending.invitations,
        now=pending.now,
        action=ActionForm(),
    )


@bp.post("/invitations/<int:invitation_id>/resend")
def resend_invitation(invitation_id: int):
    if ActionForm().validate_on_submit():
        invitation = invitations.resend_invitation(
            db(), signed_in.settings(), signed_in.actor(), invitation_id
        )
        flash(f"A new invitation link was sent to {invitation.email}. The old link no longer works")
    return redirect(url_for("admin.pending_invitations"))


@bp.route("/invitations/<int:invitation_id>/revoke", methods=["GET", "POST"])
def revoke_invitation(invitation_id: int):
    form = ActionForm()
    if form.validate_on_submit():
        invitation = invitations.revoke_invitation(db(), signed_in.actor(), invitation_id)
        flash(f"The invitation to {invitation.email} was revoked. Its link no longer works")
        return redirect(url_for("admin.pending_invitations"))
    invitation = invitations.pending_staff_invitation(db(), signed_in.actor(), invitation_id)
    return render_template("admin/revoke_invitation.html", invitation=invitation, form=form)


def _hand_over_form(page: staff.Leaving, case_id: int, formdata=None) -> HandOverForm:
    form = HandOverForm(prefix=f"case-{case_id}", formdata=formdata)
    form.to.choices = [("", "Nobody: another is on it")] + [
        (str(user.id), user.name) for user in page.others
    ]
    return form


def _person_page(user_id: int, errors: dict[int, HandOverForm] | None = None):
    page = staff.leaving(db(), signed_in.actor(), user_id, request.args.get("page", 1, type=int))
    forms = {case.id: _hand_over_form(page, case.id) for case in page.open_cases.items}
    forms.update(errors or {})
    return render_template("admin/person.html", page=page, person=page.person, forms=forms)


@bp.get("/people/<int:user_id>")
def person(user_id: int):
    """A staff member's page: the open cases to hand over before their account closes."""
    return _person_page(user_id)


@bp.post("/people/<int:user_id>/cases/<int:case_id>/hand-over")
def hand_over(user_id: int, case_id: int):
    page = staff.leaving(db(), signed_in.actor(), user_id)
    form = _hand_over_form(page, case_id, request.form)
    if form.validate_on_submit():
        to = int(form.to.data) if form.to.data else None
        try:
            staff.hand_over_case(db(), signed_in.actor(), user_id, case_id, to)
        except (InvalidInput, InvalidTransition) as error:
            show_error(form, error, "to")
        else:
            flash(f"{page.person.name} is off the case; its key has been changed")
            return redirect(url_for("admin.person", user_id=user_id))
    return _person_page(user_id, {case_id: form})


@bp.route("/people/<int:user_id>/close", methods=["GET", "POST"])
def close_account(user_id: int):
    form = CloseAccountForm()
    if form.validate_on_submit():
        try:
            rotate = staff.close_account(db(), signed_in.actor(), user_id)
        except InvalidTransition as error:
            show_error(form, error, "confirmed")
        else:
            flash(
                f"The account is closed. {len(rotate)} case key(s) they held are still to "
                "be changed: run the command on this page"
            )
            return redirect(url_for("admin.person", user_id=user_id))
    page = staff.leaving(db(), signed_in.actor(), user_id)
    return render_template("admin/close_account.html", page=page, person=page.person, form=form)


@bp.route(
    "/cases/<int:case_id>/personal-data/<any(victim, offender):party>", methods=["GET", "POST"]
)
def subject_access(case_id: int, party: str):
    """A subject access request for a party, typically one on paper with no account: the
    file a party downloads for themselves, produced through the case key, so only once the
    administrator has added themselves to the case. Audited with who produced it."""
    place = my_data.subject(db(), signed_in.actor(), case_id, party)
    form = ActionForm()
    if form.validate_on_submit():
        return my_data_file(my_data.for_subject_access(db(), signed_in.actor(), case_id, party))
    return render_template(
        "admin/subject_access.html",
        place=place,
        form=form,
        can_open=my_data.can_open(db(), signed_in.actor(), case_id),
    )


@bp.get("/retention")
def retention_due():
    """The closed cases the daily retention run will shred in the next 30 days."""
    due = retention.due_page(
        db(), signed_in.actor(), signed_in.settings(), request.args.get("page", 1, type=int)
    )
    return render_template(
        "admin/retention.html",
        due=due,
        years=signed_in.settings().retention_years,
        today=retention.today_in_utc(),
        within=retention.DUE_WITHIN_DAYS,
    )
