"""The pages of the person harmed and the person responsible."""

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from relay.extensions import db
from relay.forms import ActionForm
from relay.forms import LetterForm
from relay.forms import ReceivingChoiceForm
from relay.forms import ReceivingForm
from relay.forms import SurveyForm
from relay.forms import show_error
from relay.models import Role
from relay.services import cases
from relay.services import delivery
from relay.services import letters
from relay.services import my_data
from relay.services import next_steps
from relay.services import notes
from relay.services import prompts
from relay.services import states
from relay.services import survey
from relay.services import text
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.states import LetterAction
from relay.views import require_roles
from relay.web import signed_in

bp = Blueprint("party", __name__, url_prefix="/my")
require_roles(bp, [Role.VICTIM, Role.OFFENDER])


@bp.context_processor
def _how_to_reach_the_service() -> dict:
    # Shown at the foot of every party page (templates/party_base.html); a display setting
    # only, so no service needs it.
    return {"service_contact": (current_app.config.get("SERVICE_CONTACT_TEXT") or "").strip()}


@bp.get("/")
def home():
    page = request.args.get("page", 1, type=int)
    listed = cases.caseload(db(), signed_in.actor(), page)
    return render_template(
        "party/home.html",
        cases=listed,
        helped_by=next_steps.helped_by(db(), [found.id for found in listed.items]),
    )


@bp.get("/cases/<int:case_id>")
def case(case_id: int):
    actor = signed_in.actor()
    found, mine = cases.case_for_party(db(), actor, case_id)
    return render_template(
        "party/case.html",
        case=found,
        mine=mine,
        other=letters.other_party_or_none(found, mine),
        written=letters.letters_written_by(db(), mine),
        received=letters.letters_received_by(db(), mine),
        pause_reason=notes.pause_reason(db(), actor, found),
        something_waiting=letters.waiting_unseen(db(), mine),
        choice=ReceivingChoiceForm(preference=mine.receive_preference.value),
        state_for_author=states.shown_to_author,
        next_step=next_steps.next_step,
        helped_by=next_steps.helped_by(db(), [found.id])[found.id],
        action=ActionForm(),
        survey_offered=survey.offered(found),
        my_survey=survey.own_survey(db(), actor, case_id),
    )


def _autosave(form: LetterForm, case_id: int, letter_id: int | None):
    """relay.js saves the draft as the person types; the answer is for it, not a page."""
    if not form.validate_on_submit():
        errors = [message for messages in form.errors.values() for message in messages]
        return jsonify(error=errors[0] if errors else "Not saved"), 400
    if not (form.text.data or "").strip():
        return jsonify(saved_at=None)  # nothing typed yet: nothing is made
    try:
        letter = letters.save_draft(db(), signed_in.actor(), case_id, letter_id, form.text.data)
    except InvalidInput as error:
        return jsonify(error=str(error)), 400
    except InvalidTransition as error:
        return jsonify(error=str(error)), 409
    # The time is shown in the person's own time zone by relay.js.
    return jsonify(
        saved_at=letter.updated_at.isoformat(), action=url_for("party.edit", letter_id=letter.id)
    )


def _write(case_id: int, letter_id: int | None):
    actor = signed_in.actor()
    form = LetterForm()
    # The services check the case is theirs before they save or send: the page's own
    # reading of it waits until there is a page to show.
    if request.form.get("autosave"):
        return _autosave(form, case_id, letter_id)
    if letter_id is not None and not form.is_submitted():
        letter, texts = letters.read_own_letter(db(), actor, letter_id)
        form.text.data = text.for_editing(texts[letter.versions[-1].id])
    if form.validate_on_submit():
        typed = form.text.data or ""
        try:
            if form.send.data:
                letter = letters.send_letter(
                    db(), signed_in.settings(), actor, case_id, letter_id, typed
                )
                flash("Your letter has been sent to your facilitator to read")
                return redirect(url_for("party.letter", letter_id=letter.id))
            letter = letters.save_draft(db(), actor, case_id, letter_id, typed)
        except (InvalidInput, InvalidTransition) as error:
            # Nothing was saved or sent; the page keeps what they typed, with the reason.
            show_error(form, error, "text")
        else:
            flash("Your draft is saved")
            return redirect(url_for("party.edit", letter_id=letter.id))
    found, mine = cases.case_for_party(db(), actor, case_id)
    existing = letters.letter_for_author(db(), actor, letter_id) if letter_id else None
    other = letters.other_party_or_none(found, mine)
    return render_template(
        "party/write.html",
        form=form,
        case=found,
        mine=mine,
        letter=existing,
        note=notes.letter_note(db(), actor, existing) if existing else None,
        conditions=notes.conditions_of(db(), actor, other) if other else None,
        other=other,
        help=prompts.writing_help(mine.role),
    )


@bp.route("/cases/<int:case_id>/write", methods=["GET", "POST"])
def write(case_id: int):
    return _write(case_id, None)


@bp.route("/letters/<int:letter_id>/edit", methods=["GET", "POST"])
def edit(letter_id: int):
    letter = letters.letter_for_author(db(), signed_in.actor(), letter_id)
    return _write(letter.case_id, letter_id)


@bp.get("/letters/<int:letter_id>")
def letter(letter_id: int):
    actor = signed_in.actor()
    found, texts = letters.read_own_letter(db(), actor, letter_id)
    current = found.versions[-1]
    shown = text.render(texts[current.id])
    diff = None
    if LetterAction.ACCEPT_REDACTION in states.allowed_actions(found, actor):
        mine = letters.last_author_version(found)
        diff = text.difference(texts[mine.id], texts[current.id])
    return render_template(
        "party/letter.html",
        letter=found,
        note=notes.letter_note(db(), actor, found),
        shown=shown,
        diff=diff,
        action=ActionForm(),
        state=states.shown_to_author(found),
        next_step=next_steps.next_step(found, found.author),
    )


def _author_action(letter_id: int, service, *args):
    if ActionForm().validate_on_submit():
        service(db(), *args, signed_in.actor(), letter_id)
    return redirect(url_for("party.letter", letter_id=letter_id))


@bp.post("/letters/<int:letter_id>/accept")
def accept(letter_id: int):
    return _author_action(letter_id, letters.accept_redaction, signed_in.settings())


@bp.post("/letters/<int:letter_id>/decline")
def decline(letter_id: int):
    return _author_action(letter_id, letters.decline_redaction)


@bp.route("/letters/<int:letter_id>/withdraw", methods=["GET", "POST"])
def withdraw_letter(letter_id: int):
    """Asks first: withdrawing cannot be undone."""
    found = letters.letter_to_act_on(db(), signed_in.actor(), letter_id, LetterAction.WITHDRAW)
    form = ActionForm()
    if form.validate_on_submit():
        letters.withdraw_letter(db(), signed_in.actor(), letter_id)
        flash("Your letter has been withdrawn. It will not be passed on")
        return redirect(url_for("party.letter", letter_id=letter_id))
    return render_template("party/withdraw_letter.html", letter=found, form=form)


@bp.route("/letters/<int:letter_id>/delete", methods=["GET", "POST"])
def delete_draft(letter_id: int):
    """Asks first: a deleted draft is destroyed and cannot be brought back."""
    found = letters.letter_to_act_on(db(), signed_in.actor(), letter_id, LetterAction.DELETE_DRAFT)
    form = ActionForm()
    if form.validate_on_submit():
        case_id = letters.delete_draft(db(), signed_in.actor(), letter_id)
        flash("Your draft has been deleted")
        return redirect(url_for("party.case", case_id=case_id))
    return render_template("party/delete_draft.html", letter=found, form=form)


@bp.get("/received/<int:letter_id>")
def before_opening(letter_id: int):
    found = letters.letter_for_recipient(db(), signed_in.actor(), letter_id)
    return render_template(
        "party/before_opening.html",
        letter=found,
        action=ActionForm(),
        paused_message=states.PAUSED_FOR_NOW,
    )


@bp.post("/received/<int:letter_id>/open")
def open_letter(letter_id: int):
    if not ActionForm().validate_on_submit():
        return redirect(url_for("party.before_opening", letter_id=letter_id))
    found, body = letters.open_letter(db(), signed_in.settings(), signed_in.actor(), letter_id)
    return render_template(
        "party/read.html", letter=found, shown=text.render(body), action=ActionForm()
    )


@bp.post("/received/<int:letter_id>/hold")
def hold(letter_id: int):
    if ActionForm().validate_on_submit():
        letters.set_held_out_of_sight(db(), signed_in.actor(), letter_id, True)
        flash("The letter is now held out of sight. You can ask for it back at any time.")
    found = letters.letter_for_recipient(db(), signed_in.actor(), letter_id)
    return redirect(url_for("party.case", case_id=found.case_id))


@bp.post("/received/<int:letter_id>/unhold")
def unhold(letter_id: int):
    if ActionForm().validate_on_submit():
        letters.set_held_out_of_sight(db(), signed_in.actor(), letter_id, False)
    found = letters.letter_for_recipient(db(), signed_in.actor(), letter_id)
    return redirect(url_for("party.case", case_id=found.case_id))


@bp.route("/received/<int:letter_id>/destroy", methods=["GET", "POST"])
def destroy(letter_id: int):
    found = letters.letter_for_recipient(db(), signed_in.actor(), letter_id)
    form = ActionForm()
    if form.validate_on_submit():
        letters.destroy_my_copy(db(), signed_in.actor(), letter_id)
        flash("Your copy of the letter has been destroyed")
        return redirect(url_for("party.case", case_id=found.case_id))
    return render_template("party/destroy.html", letter=found, form=form)


@bp.route("/cases/<int:case_id>/receiving", methods=["GET", "POST"])
def receiving(case_id: int):
    actor = signed_in.actor()
    found, mine = cases.case_for_party(db(), actor, case_id)
    form = ReceivingForm(
        preference=mine.receive_preference.value,
        tell_author=mine.tell_author_when_read,
        conditions=notes.conditions_of(db(), actor, mine) or "",
    )
    if form.validate_on_submit():
        cases.set_receiving(
            db(),
            signed_in.settings(),
            actor,
            case_id,
            preference=form.preference.data,
            tell_author_when_read=form.tell_author.data,
            conditions=form.conditions.data or "",
        )
        flash("Your choices are saved")
        return redirect(url_for("party.case", case_id=case_id))
    return render_template("party/receiving.html", form=form, case=found)


@bp.post("/cases/<int:case_id>/receiving/choice")
def receiving_choice(case_id: int):
    """Only when to receive, from the case page where something may be waiting."""
    form = ReceivingChoiceForm()
    if form.validate_on_submit():
        cases.set_receiving(
            db(), signed_in.settings(), signed_in.actor(), case_id, preference=form.preference.data
        )
        flash("Your choice is saved")
    return redirect(url_for("party.case", case_id=case_id))


@bp.get("/stop")
def stop():
    """Reachable from every party page: withdrawing is the next click (docs/rules.md rule 1)."""
    actor = signed_in.actor()
    return render_template(
        "party/stop.html", cases=cases.cases_to_withdraw_from(db(), actor), form=ActionForm()
    )


@bp.route("/cases/<int:case_id>/withdraw", methods=["GET", "POST"])
def withdraw(case_id: int):
    actor = signed_in.actor()
    found, mine = cases.case_for_party(db(), actor, case_id)
    form = ActionForm()
    if form.validate_on_submit():
        cases.withdraw_from_case(db(), signed_in.settings(), actor, case_id)
        return render_template("party/withdrawn.html", case_id=case_id)
    drafts = delivery.drafts_lost_at_end(found, mine)
    return render_template("party/withdraw.html", form=form, case=found, drafts=drafts)


@bp.route("/cases/<int:case_id>/survey", methods=["GET", "POST"], endpoint="survey")
def survey_form(case_id: int):
    """The optional survey once the exchange has ended; after answering, the same address
    thanks them and shows what they said."""
    actor = signed_in.actor()
    form = SurveyForm()
    if form.validate_on_submit():
        try:
            survey.answer_survey(db(), actor, case_id, **form.answers())
        except InvalidInput as error:
            show_error(form, error, "comment")
        else:
            return redirect(url_for("party.survey", case_id=case_id))
    found, _mine = cases.case_for_party(db(), actor, case_id)
    return render_template(
        "party/survey.html",
        form=form,
        case=found,
        offered=survey.offered(found),
        answered=survey.own_survey(db(), actor, case_id),
    )


def my_data_file(data: my_data.MyData) -> Response:
    """The zip of a person's own data, made in memory and never stored: the page to open
    and print (every value escaped by the template, letters as plain text) and the same
    data as JSON. Also answers an administrator's subject access request."""
    page = render_template("party/my_data_file.html", data=data)
    day = data.generated_at.date().isoformat()
    return Response(
        my_data.packaged(data, page),
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{my_data.FILE_NAME}-{day}.zip"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/data", methods=["GET", "POST"], endpoint="my_data")
def my_data_download():
    """What the file holds, and a button that makes it (a POST: the export is audited)."""
    form = ActionForm()
    if form.validate_on_submit():
        return my_data_file(my_data.for_myself(db(), signed_in.actor()))
    return render_template("party/my_data.html", form=form)
