"""The facilitator's case pages: open, invite, record the gates, start, pause, close."""

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from relay.extensions import db
from relay.forms import ActionForm
from relay.forms import AddFacilitatorForm
from relay.forms import CaseForm
from relay.forms import CloseCaseForm
from relay.forms import GateForm
from relay.forms import InvitePartyForm
from relay.forms import PaperLetterForm
from relay.forms import PauseForm
from relay.forms import show_error
from relay.models import Role
from relay.services import access
from relay.services import cases
from relay.services import delivery
from relay.services import keys
from relay.services import letters
from relay.services import notes
from relay.services.errors import InvalidInput
from relay.views import require_roles
from relay.web import signed_in

bp = Blueprint("cases", __name__, url_prefix="/cases")
require_roles(bp, [Role.FACILITATOR, Role.ADMINISTRATOR])


@bp.get("/")
def home():
    actor = signed_in.actor()
    return render_template(
        "cases/home.html",
        cases=cases.caseload(db(), actor, request.args.get("page", 1, type=int)),
        waiting=letters.waiting_for_staff(db(), actor),
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = CaseForm()
    if form.validate_on_submit():
        try:
            case = cases.open_case(
                db(),
                signed_in.actor(),
                reference=form.reference.data,
                offence_category=form.offence_category.data,
            )
        except InvalidInput as error:
            show_error(form, error, "reference")
        else:
            return redirect(url_for("cases.show", case_id=case.id))
    return render_template("cases/new.html", form=form)


def _case_page(case, facilitator_form: AddFacilitatorForm):
    holders = keys.case_key_holders(db(), case.id)
    return render_template(
        "cases/show.html",
        case=case,
        gates=cases.gate_status(case),
        shown_letters=letters.letters_for_staff(case),
        action=ActionForm(),
        gate_form=GateForm(),
        facilitator_form=facilitator_form,
        key_holders=holders,
        holds_key=any(seal.user_id == signed_in.actor().id for seal in holders),
        conditions=notes.conditions_in(db(), signed_in.actor(), case),
        pause_reason=notes.pause_reason(db(), signed_in.actor(), case),
        pause_form=PauseForm(formdata=None),
    )


@bp.get("/<int:case_id>")
def show(case_id: int):
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    return _case_page(case, AddFacilitatorForm(formdata=None))


@bp.post("/<int:case_id>/facilitators")
def add_facilitator(case_id: int):
    form = AddFacilitatorForm()
    if form.validate_on_submit():
        try:
            access.add_facilitator(db(), signed_in.actor(), case_id, form.email.data)
        except InvalidInput as error:
            show_error(form, error, "email")
        else:
            flash("The facilitator has been added to the case")
            return redirect(url_for("cases.show", case_id=case_id))
    return _case_page(cases.case_for_staff(db(), signed_in.actor(), case_id), form)


@bp.post("/<int:case_id>/restore-access/<int:user_id>")
def restore_access(case_id: int, user_id: int):
    if ActionForm().validate_on_submit():
        restored = access.restore_party_access(db(), signed_in.actor(), case_id, user_id)
        flash(f"Access restored to {restored} letter version(s)")
    return redirect(url_for("cases.show", case_id=case_id))


@bp.post("/<int:case_id>/facilitators/<int:user_id>/remove")
def remove_facilitator(case_id: int, user_id: int):
    if ActionForm().validate_on_submit():
        access.remove_facilitator(db(), signed_in.actor(), case_id, user_id)
        flash("The facilitator has left the case; its key has been changed")
    return redirect(url_for("cases.show", case_id=case_id))


@bp.post("/<int:case_id>/join")
def join(case_id: int):
    if ActionForm().validate_on_submit():
        access.join_case(db(), signed_in.actor(), case_id)
        flash("You have been added to the case and can now read its letters")
    return redirect(url_for("cases.show", case_id=case_id))


@bp.route("/<int:case_id>/invite", methods=["GET", "POST"])
def invite(case_id: int):
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    form = InvitePartyForm()
    if form.validate_on_submit():
        try:
            cases.invite_party(
                db(),
                signed_in.settings(),
                signed_in.actor(),
                case_id,
                role=Role(form.role.data),
                email=form.email.data,
                name=form.name.data,
                display_name=form.display_name.data,
            )
        except InvalidInput as error:
            show_error(form, error, "email")
        else:
            flash(f"Invitation sent to {form.email.data}")
            return redirect(url_for("cases.show", case_id=case_id))
    return render_template("cases/invite.html", form=form, case=case)


@bp.post("/<int:case_id>/gates/<gate>")
def record_gate(case_id: int, gate: str):
    form = GateForm()
    if gate not in cases.GATES:
        abort(404)
    if form.validate_on_submit():
        cases.record_gate(db(), signed_in.actor(), case_id, gate, extra_care=form.extra_care.data)
    return redirect(url_for("cases.show", case_id=case_id))


def _case_action(case_id: int, action, *args) -> object:
    if ActionForm().validate_on_submit():
        action(db(), *args, signed_in.actor(), case_id)
    return redirect(url_for("cases.show", case_id=case_id))


@bp.post("/<int:case_id>/activate")
def activate(case_id: int):
    return _case_action(case_id, cases.activate_case)


@bp.post("/<int:case_id>/pause")
def pause(case_id: int):
    form = PauseForm()
    if form.validate_on_submit():
        cases.pause_case(
            db(), signed_in.settings(), signed_in.actor(), case_id, form.reason.data or ""
        )
    return redirect(url_for("cases.show", case_id=case_id))


@bp.post("/<int:case_id>/resume")
def resume(case_id: int):
    return _case_action(case_id, cases.resume_case, signed_in.settings())


@bp.route("/<int:case_id>/close", methods=["GET", "POST"])
def close(case_id: int):
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    form = CloseCaseForm()
    if form.validate_on_submit():
        cases.close_case(db(), signed_in.actor(), case_id, form.outcome.data)
        return redirect(url_for("cases.show", case_id=case_id))
    return render_template(
        "cases/close.html", form=form, case=case, drafts=delivery.drafts_lost_at_end(case)
    )


@bp.route("/<int:case_id>/paper-letter", methods=["GET", "POST"])
def paper_letter(case_id: int):
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    form = PaperLetterForm()
    if form.validate_on_submit():
        try:
            letter = letters.enter_paper_letter(
                db(),
                signed_in.settings(),
                signed_in.actor(),
                case_id,
                Role(form.author.data),
                form.text.data,
            )
        except InvalidInput as error:
            show_error(form, error, "text")
        else:
            flash("The letter is waiting for a second facilitator to review it")
            return redirect(url_for("review.show", letter_id=letter.id))
    return render_template("cases/paper_letter.html", form=form, case=case)
