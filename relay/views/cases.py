"""The facilitator's case pages: open, invite, record the gates and risk, case notes,
start, pause, close, and the case's timeline."""

from flask import Blueprint
from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from wtforms.fields.choices import SelectChoice

from relay.extensions import db
from relay.forms import ActionForm
from relay.forms import AddFacilitatorForm
from relay.forms import CaseForm
from relay.forms import CaseListForm
from relay.forms import CaseNoteForm
from relay.forms import CloseCaseForm
from relay.forms import GateEvidenceForm
from relay.forms import InvitePartyForm
from relay.forms import PaperLetterForm
from relay.forms import PaperPartyForm
from relay.forms import PaperScanForm
from relay.forms import PaperSurveyForm
from relay.forms import PaperSwitchForm
from relay.forms import PartyForm
from relay.forms import PauseReasonForm
from relay.forms import ReferralCaseForm
from relay.forms import ReferralForm
from relay.forms import ReferralListForm
from relay.forms import ReferralOutcomeForm
from relay.forms import RiskAssessmentForm
from relay.forms import TimelineFilterForm
from relay.forms import show_error
from relay.models import Role
from relay.models import utcnow
from relay.services import access
from relay.services import cases
from relay.services import delivery
from relay.services import keys
from relay.services import letters
from relay.services import notes
from relay.services import paper_in
from relay.services import referrals
from relay.services import scans
from relay.services import survey
from relay.services import timeline as timelines
from relay.services.errors import InvalidInput
from relay.services.timeline import Narrowing
from relay.views import require_roles
from relay.web import signed_in

bp = Blueprint("cases", __name__, url_prefix="/cases")
require_roles(bp, [Role.FACILITATOR, Role.ADMINISTRATOR])


@bp.get("/")
def home():
    actor = signed_in.actor()
    today = utcnow().date()
    search = CaseListForm(formdata=request.args)
    narrowing = {"reference": "", "state": ""}
    if search.validate():
        narrowing = {"reference": search.reference.data or "", "state": search.state.data or ""}
    try:
        listed = cases.case_list(
            db(), actor, page=request.args.get("page", 1, type=int), today=today, **narrowing
        )
    except InvalidInput as error:
        show_error(search, error, "reference")
        narrowing = {"reference": "", "state": ""}
        listed = cases.case_list(db(), actor, today=today)
    return render_template(
        "cases/home.html",
        cases=listed,
        search=search,
        narrowing={name: value for name, value in narrowing.items() if value},
        waiting=letters.waiting_for_staff(db(), actor),
        reviews_due=cases.risk_reviews_due(db(), actor, today),
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


GATE_FORMS = ("consent", "admission", "no_contact")
GATE_EVIDENCE_LABELS = {
    "consent": "Evidence of the consent of the person harmed",
    "admission": "Evidence of the admission of responsibility",
    "no_contact": "Evidence of the no-contact order check",
}


def _risk_form(party_id: int, formdata=None) -> RiskAssessmentForm:
    return RiskAssessmentForm(formdata=formdata, prefix=f"risk-{party_id}")


def _case_page(case, **shown):
    """The case page; `shown` holds a form sent back with its errors, by the name it
    has on the page (a gate's "gate-consent", a person's "risk-12")."""
    actor = signed_in.actor()
    holders = keys.case_key_holders(db(), case.id)
    gate_forms = {
        gate: shown.get(f"gate-{gate}") or GateEvidenceForm(formdata=None, prefix=gate)
        for gate in GATE_FORMS
    }
    for gate, form in gate_forms.items():
        form.evidence.label.text = GATE_EVIDENCE_LABELS[gate]
    risk_forms = {
        party.id: shown.get(f"risk-{party.id}") or _risk_form(party.id)
        for party in case.participants
        if party.role in cases.PARTY_ROLES
    }
    return render_template(
        "cases/show.html",
        case=case,
        gates=cases.gate_status(case),
        gate_records=cases.gate_records(db(), actor, case),
        gate_forms=gate_forms,
        risk_forms=risk_forms,
        risk_categories={p.id: cases.risk_categories_of(p) for p in case.participants},
        assessable={
            p.id: cases.may_assess_risk(case, actor, p)
            for p in case.participants
            if p.role in cases.PARTY_ROLES
        },
        keeps_records=cases.keeps_records(case, actor),
        today=utcnow().date(),
        shown_letters=letters.letters_for_staff(case),
        action=ActionForm(),
        facilitator_form=shown.get("facilitator") or AddFacilitatorForm(formdata=None),
        key_holders=holders,
        holds_key=any(seal.user_id == actor.id for seal in holders),
        conditions=notes.conditions_in(db(), actor, case),
        pause_reason=notes.pause_reason(db(), actor, case),
        pause_form=shown.get("pause") or PauseReasonForm(formdata=None),
        note_form=shown.get("note") or CaseNoteForm(formdata=None),
        case_notes=notes.case_notes(db(), actor, case, request.args.get("notes", 1, type=int)),
        surveys=survey.surveys_for_staff(db(), actor, case.id),
        # The one form sent back with its errors: summed up at the top of the page.
        failed=next(iter(shown.values()), None),
    )


@bp.get("/<int:case_id>")
def show(case_id: int):
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    return _case_page(case)


@bp.post("/<int:case_id>/notes")
def add_note(case_id: int):
    form = CaseNoteForm()
    if form.validate_on_submit():
        try:
            cases.add_case_note(db(), signed_in.actor(), case_id, form.text.data)
        except InvalidInput as error:
            show_error(form, error, "text")
        else:
            flash("Your note has been added to the case")
            return redirect(url_for("cases.show", case_id=case_id, _anchor="case-notes"))
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    return _case_page(case, note=form)


@bp.post("/<int:case_id>/risk")
def assess_risk(case_id: int):
    party_id = request.form.get("participant", 0, type=int)
    form = _risk_form(party_id, request.form)
    if form.validate_on_submit():
        try:
            cases.assess_risk(
                db(),
                signed_in.actor(),
                case_id,
                party_id,
                level=form.level.data,
                categories=form.categories.data or [],
                review_on=form.review_on.data,
                evidence=form.evidence.data,
                today=utcnow().date(),
            )
        except InvalidInput as error:
            show_error(form, error, "level")
        else:
            flash("The risk assessment has been recorded")
            return redirect(url_for("cases.show", case_id=case_id, _anchor="risk"))
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    return _case_page(case, **{f"risk-{party_id}": form})


@bp.get("/<int:case_id>/timeline")
def timeline(case_id: int):
    actor = signed_in.actor()
    case = cases.case_for_staff(db(), actor, case_id)
    filters, narrowing = None, Narrowing()
    if actor.role == Role.ADMINISTRATOR:
        filters, narrowing = _timeline_filters(case_id, request.args)
    try:
        page = timelines.timeline(
            db(),
            actor,
            case_id,
            page=request.args.get("page", 1, type=int),
            narrowing=narrowing,
        )
    except InvalidInput as error:
        show_error(filters, error, "start")
        page = timelines.timeline(db(), actor, case_id, page=1)
        narrowing = Narrowing()
    return render_template(
        "cases/timeline.html",
        case=case,
        entries=page,
        filters=filters,
        narrowing=narrowing,
        action=ActionForm(),
    )


def _timeline_filters(case_id: int, data) -> tuple[TimelineFilterForm, Narrowing]:
    """The administrator's filter, from the address (or the export's form): a filter
    with an error narrows nothing, and says why."""
    form = TimelineFilterForm(formdata=data)
    people = timelines.people_in(db(), signed_in.actor(), case_id)
    form.person.choices = [
        SelectChoice("", "Everyone"),
        *(SelectChoice(str(user_id), name) for user_id, name in people),
    ]
    if not data or not form.validate():
        return form, Narrowing()
    person = form.person.data
    return form, Narrowing(
        person_id=int(person) if person else None, start=form.start.data, end=form.end.data
    )


@bp.post("/<int:case_id>/timeline/export")
def export_timeline(case_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    cases.case_for_staff(db(), signed_in.actor(), case_id)
    narrowing = Narrowing()
    if signed_in.actor().role == Role.ADMINISTRATOR:
        _form, narrowing = _timeline_filters(case_id, request.form)
    exported = timelines.export_csv(db(), signed_in.actor(), case_id, narrowing)
    return Response(
        exported,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="case-{case_id}-timeline.csv"'},
    )


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
    return _case_page(cases.case_for_staff(db(), signed_in.actor(), case_id), facilitator=form)


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


@bp.route("/<int:case_id>/on-paper", methods=["GET", "POST"])
def add_paper_party(case_id: int):
    """A person with no e-mail address (many people in custody) takes part on paper."""
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    form = PaperPartyForm()
    if form.validate_on_submit():
        try:
            cases.add_paper_party(
                db(),
                signed_in.actor(),
                case_id,
                role=Role(form.role.data),
                display_name=form.display_name.data,
            )
        except InvalidInput as error:
            show_error(form, error, "display_name")
        else:
            flash(f"Added: {form.display_name.data.strip()} takes part on paper")
            return redirect(url_for("cases.show", case_id=case_id))
    return render_template("cases/on_paper.html", form=form, case=case)


@bp.post("/<int:case_id>/gates/<gate>")
def record_gate(case_id: int, gate: str):
    """Consent, admission and the no-contact check, each with its evidence; the risk
    assessment, one per person, is `assess_risk`."""
    if gate not in GATE_FORMS:
        abort(404)
    form = GateEvidenceForm(prefix=gate)
    if form.validate_on_submit():
        cases.record_gate(db(), signed_in.actor(), case_id, gate, evidence=form.evidence.data)
        flash("Recorded")
        return redirect(url_for("cases.show", case_id=case_id, _anchor="gates"))
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    return _case_page(case, **{f"gate-{gate}": form})


def _case_action(case_id: int, action, *args) -> object:
    if ActionForm().validate_on_submit():
        action(db(), *args, signed_in.actor(), case_id)
    return redirect(url_for("cases.show", case_id=case_id))


@bp.post("/<int:case_id>/activate")
def activate(case_id: int):
    return _case_action(case_id, cases.activate_case)


@bp.post("/<int:case_id>/pause")
def pause(case_id: int):
    form = PauseReasonForm()
    if form.validate_on_submit():
        try:
            cases.pause_case(
                db(), signed_in.settings(), signed_in.actor(), case_id, form.reason.data
            )
        except InvalidInput as error:
            show_error(form, error, "reason")
        else:
            return redirect(url_for("cases.show", case_id=case_id))
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    return _case_page(case, pause=form)


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
        "cases/close.html",
        form=form,
        case=case,
        drafts=delivery.drafts_lost_at_end(case),
        surveys=survey.surveys_for_staff(db(), signed_in.actor(), case_id),
    )


@bp.get("/<int:case_id>/survey/<int:participant_id>/print")
def survey_print(case_id: int, participant_id: int):
    """The survey as a form to print for a party on paper or without an account (anyone
    else answers in their own pages, `survey.on_paper`):
    the questions, boxes to tick and the case's reference to match it when it comes back;
    no one's name. Nothing of anyone's is on it, so it is not audited."""
    case, party = survey.party_for_paper(db(), signed_in.actor(), case_id, participant_id)
    return render_template(
        "cases/survey_print.html",
        case=case,
        party=party,
        questions=survey.QUESTIONS,
        comment_words=survey.COMMENT_WORDS,
    )


@bp.route("/<int:case_id>/survey/<int:participant_id>", methods=["GET", "POST"])
def enter_survey(case_id: int, participant_id: int):
    """A printed survey form, entered by a facilitator of the case as the person filled it in."""
    actor = signed_in.actor()
    case, party = survey.party_for_paper(db(), actor, case_id, participant_id)
    form = PaperSurveyForm()
    if form.validate_on_submit():
        try:
            survey.enter_paper_survey(db(), actor, case_id, participant_id, **form.answers())
        except InvalidInput as error:
            show_error(form, error, "comment")
        else:
            flash(f"The survey of the {party.role.label} is entered")
            return redirect(url_for("cases.show", case_id=case_id, _anchor="surveys"))
    shown = survey.surveys_for_staff(db(), actor, case_id)
    return render_template(
        "cases/enter_survey.html",
        form=form,
        case=case,
        party=party,
        offered=survey.offered(case),
        status=next(found for found in shown if found.party.id == party.id),
    )


@bp.route("/<int:case_id>/paper-letter", methods=["GET", "POST"])
def paper_letter(case_id: int):
    """A letter that came on paper, step one: who wrote it, when it came, and its scan."""
    # A scan may be larger than any other form: only this page takes one.
    request.max_content_length = scans.MAX_UPLOAD_BYTES + 256 * 1024
    case = cases.case_for_staff(db(), signed_in.actor(), case_id)
    form = PaperScanForm()
    if form.validate_on_submit():
        try:
            scan = paper_in.receive_paper_letter(
                db(),
                signed_in.actor(),
                case_id,
                author_role=Role(form.author.data),
                received_on=form.received_on.data,
                envelope_dated=form.envelope_dated.data,
                upload=form.scan.data.read(),
                filename=form.scan.data.filename or "",
            )
        except InvalidInput as error:
            show_error(form, error, "scan")
        else:
            return redirect(url_for("cases.type_paper_letter", case_id=case_id, scan_id=scan.id))
    waiting = paper_in.waiting_to_be_typed(db(), signed_in.actor(), case_id)
    return render_template(
        "cases/paper_letter.html", form=form, case=case, waiting=waiting, action=ActionForm()
    )


@bp.route("/<int:case_id>/paper-letter/<int:scan_id>", methods=["GET", "POST"])
def type_paper_letter(case_id: int, scan_id: int):
    """Step two: the letter typed in beside its scan, from Relay's first reading of it."""
    actor = signed_in.actor()
    scan = paper_in.scan_to_type(db(), actor, case_id, scan_id)
    form = PaperLetterForm()
    draft = None
    if form.validate_on_submit():
        try:
            letters.enter_paper_letter(db(), signed_in.settings(), actor, scan_id, form.text.data)
        except InvalidInput as error:
            show_error(form, error, "text")
        else:
            flash("The letter is typed in. Another facilitator must check it against the scan")
            return redirect(url_for("cases.show", case_id=case_id))
    elif not form.is_submitted():
        draft = paper_in.draft_transcript(db(), actor, case_id, scan_id)
        form.text.data = draft.text
    case = cases.case_for_staff(db(), actor, case_id)
    return render_template(
        "cases/type_paper_letter.html", form=form, case=case, scan=scan, draft=draft
    )


@bp.post("/<int:case_id>/paper-letter/<int:scan_id>/discard")
def discard_scan(case_id: int, scan_id: int):
    if ActionForm().validate_on_submit():
        paper_in.discard_scan(db(), signed_in.actor(), case_id, scan_id)
        flash("The scan is discarded")
    return redirect(url_for("cases.paper_letter", case_id=case_id))


@bp.get("/scans/<int:scan_id>/page-<int:number>")
def scan_page(scan_id: int, number: int):
    """One page of a scan as a picture, for the case's staff; never kept by the browser."""
    picture, media_type = paper_in.page_picture(db(), signed_in.actor(), scan_id, number)
    response = Response(picture, mimetype=media_type)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = "inline"
    return response


def _party_named(form: PartyForm) -> int:
    try:
        return int(form.participant.data)
    except (TypeError, ValueError):
        abort(404)


@bp.post("/<int:case_id>/paper")
def change_paper(case_id: int):
    """Change a party to take part on paper, or through Relay again (`cases.set_on_paper`)."""
    cases.case_for_staff(db(), signed_in.actor(), case_id)
    form = PaperSwitchForm()
    if form.validate_on_submit():
        party = cases.set_on_paper(
            db(),
            signed_in.settings(),
            signed_in.actor(),
            case_id,
            _party_named(form),
            form.to.data == "paper",
        )
        how = "on paper" if party.on_paper else "through Relay"
        flash(f"“{party.display_name}” now takes part {how}")
    return redirect(url_for("cases.show", case_id=case_id))


@bp.post("/<int:case_id>/paper-code")
def print_code(case_id: int):
    """A one-time code for a party on paper, on a page to print: this answer is the only
    place it is ever shown (a POST, served no-store; only its digest is kept)."""
    cases.case_for_staff(db(), signed_in.actor(), case_id)
    form = PartyForm()
    if not form.validate_on_submit():
        return redirect(url_for("cases.show", case_id=case_id))
    printed = cases.print_code(db(), signed_in.actor(), case_id, _party_named(form))
    return render_template(
        "cases/paper_code.html",
        printed=printed,
        case_id=case_id,
        address=signed_in.settings().link(url_for("auth.enter_code")),
    )


@bp.get("/referrals")
def referral_list():
    """Every referral, newest first, narrowed by status: for every facilitator."""
    actor = signed_in.actor()
    search = ReferralListForm(formdata=request.args)
    status = (search.status.data or "") if search.validate() else ""
    try:
        listed = referrals.referral_list(
            db(), actor, status=status, page=request.args.get("page", 1, type=int)
        )
    except InvalidInput as error:
        show_error(search, error, "status")
        status = ""
        listed = referrals.referral_list(db(), actor)
    return render_template(
        "cases/referrals.html",
        referrals=listed,
        search=search,
        narrowing={"status": status} if status else {},
    )


@bp.route("/referrals/new", methods=["GET", "POST"])
def new_referral():
    referrals.require_facilitator(signed_in.actor())
    form = ReferralForm()
    if form.validate_on_submit():
        try:
            referral = referrals.record_referral(
                db(),
                signed_in.actor(),
                received_on=form.received_on.data,
                source=form.source.data,
                offence_category=form.offence_category.data,
                today=utcnow().date(),
            )
        except InvalidInput as error:
            show_error(form, error, "received_on")
        else:
            flash("Referral recorded")
            return redirect(url_for("cases.referral", referral_id=referral.id))
    return render_template("cases/referral_new.html", form=form)


@bp.route("/referrals/<int:referral_id>", methods=["GET", "POST"])
def referral(referral_id: int):
    """A referral, with what came of the offer to record."""
    actor = signed_in.actor()
    found = referrals.referral_for_staff(db(), actor, referral_id)
    if request.method == "POST":
        form = ReferralOutcomeForm()
    else:
        shown = found.status if found.status != referrals.FINAL else None
        form = ReferralOutcomeForm(formdata=None, status=shown, decline_reason=found.decline_reason)
    if form.validate_on_submit():
        try:
            referrals.record_outcome(
                db(),
                actor,
                referral_id,
                status=form.status.data,
                decline_reason=form.decline_reason.data,
            )
        except InvalidInput as error:
            show_error(form, error, "status")
        else:
            flash("What happened is recorded")
            return redirect(url_for("cases.referral", referral_id=referral_id))
    return render_template(
        "cases/referral.html",
        referral=found,
        form=form,
        case=referrals.case_of(db(), actor, found),
    )


@bp.route("/referrals/<int:referral_id>/case", methods=["GET", "POST"])
def open_referral_case(referral_id: int):
    """The person harmed agreed: open the case for the referral."""
    actor = signed_in.actor()
    found = referrals.referral_for_staff(db(), actor, referral_id)
    if found.case_id is not None and request.method == "GET":
        return redirect(url_for("cases.referral", referral_id=referral_id))
    form = ReferralCaseForm()
    if form.validate_on_submit():
        try:
            case = referrals.open_case_from_referral(
                db(), actor, referral_id, reference=form.reference.data
            )
        except InvalidInput as error:
            show_error(form, error, "reference")
        else:
            flash("Case opened from the referral")
            return redirect(url_for("cases.show", case_id=case.id))
    return render_template("cases/referral_case.html", referral=found, form=form)
