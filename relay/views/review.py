"""The facilitator's review of letters: read every version, then decide."""

from flask import Blueprint
from flask import Response
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from relay.extensions import db
from relay.forms import ActionForm
from relay.forms import ApproveForm
from relay.forms import ChangesForm
from relay.forms import CorrectTranscriptForm
from relay.forms import CoverSheetForm
from relay.forms import DeliveredOnPaperForm
from relay.forms import QueueForm
from relay.forms import RedactionForm
from relay.forms import RejectForm
from relay.forms import show_error
from relay.models import Role
from relay.models import utcnow
from relay.services import claims
from relay.services import desk
from relay.services import invitations
from relay.services import letters
from relay.services import notes
from relay.services import paper_in
from relay.services import post
from relay.services import text
from relay.services.errors import InvalidInput
from relay.views import require_roles
from relay.web import signed_in

bp = Blueprint("review", __name__, url_prefix="/review")
require_roles(bp, [Role.FACILITATOR, Role.ADMINISTRATOR])


@bp.get("/")
def queue():
    actor = signed_in.actor()
    form = QueueForm(request.args)
    form.settle()
    choice = letters.QueueChoice(
        show=letters.QueueShow(form.show.data),
        order=letters.QueueOrder(form.order.data),
        case_reference="" if form.case.errors else (form.case.data or "").strip(),
    )
    # The choice again in every page's link, leaving out what is the default anyway.
    kept = {
        name: value
        for name, value, default in (
            ("show", choice.show, letters.QueueShow.ALL),
            ("case", choice.case_reference, ""),
            ("order", choice.order, letters.QueueOrder.OLDEST),
        )
        if value != default
    }
    settings = signed_in.settings()
    return render_template(
        "review/queue.html",
        form=form,
        choice=choice,
        kept=kept,
        target=settings.review_target_working_days,
        letters=letters.review_queue(
            db(), actor, request.args.get("page", 1, type=int), choice, settings
        ),
        beside=desk.beside_the_queue(db(), actor),
        why_not_passed_on=letters.why_not_passed_on,
        action=ActionForm(),
    )


def _render(letter_id: int, decided: bool = False, **forms):
    letter, texts, claim = claims.open_for_review(db(), signed_in.actor(), letter_id)
    current = texts[-1][1]
    # The version under review shows its flags in place, numbered as in the list above it.
    actor = signed_in.actor()
    conditions = notes.conditions_of(db(), actor, letter.recipient)
    found = letters.flags_for_review(letter, current, conditions)
    marked = text.render_marked(current, [(flag.start, flag.end) for flag in found])
    versions = [(version, text.render(body)) for version, body in texts[:-1]]
    versions.append((texts[-1][0], marked))
    # A second approver starts from the first's "not before" date, and may change it.
    forms.setdefault("approve", ApproveForm(formdata=None, not_before=letter.deliver_not_before))
    forms.setdefault("changes", ChangesForm(formdata=None))
    forms.setdefault("on_paper", DeliveredOnPaperForm(formdata=None, on=utcnow().date()))
    forms.setdefault("reject", RejectForm(formdata=None))
    forms.setdefault(
        "retype",
        CorrectTranscriptForm(formdata=None, prefix="retype", text=text.for_editing(current)),
    )
    forms.setdefault(
        "redact", RedactionForm(formdata=None, prefix="redact", text=text.for_editing(current))
    )
    return render_template(
        "review/show.html",
        letter=letter,
        note=notes.letter_note(db(), actor, letter),
        conditions=conditions,
        extra_care=letters.needs_extra_care(letter.case),
        second_approval=letters.waits_for_second_approval(letter),
        versions=versions,
        action=ActionForm(),
        reads=letters.reads_of(db(), letter),
        flags=found,
        # A letter typed in from paper: its scan, shown beside the version under review.
        scan=paper_in.scan_of_letter(db(), letter),
        claim=claim,
        decided=decided,
        # Just after a decision: the next letter to review, if one waits.
        next_letter=letters.next_for_review(db(), actor, letter.id) if decided else None,
        **forms,
    )


@bp.get("/letters/<int:letter_id>")
def show(letter_id: int):
    return _render(letter_id, decided=request.args.get("decided") == "1")


@bp.route("/letters/<int:letter_id>/take-over", methods=["GET", "POST"])
def take_over(letter_id: int):
    """Asks first: whoever holds the letter may be writing their decision now."""
    form = ActionForm()
    if form.validate_on_submit():
        claims.take_over(db(), signed_in.actor(), letter_id)
        flash("You have taken this letter over")
        return redirect(url_for("review.show", letter_id=letter_id))
    claim = claims.claim_to_take_over(db(), signed_in.actor(), letter_id)
    if claim is None or not claim.can_take_over:
        # Nobody else holds it any more (or it is yours): the letter's page says where it is.
        return redirect(url_for("review.show", letter_id=letter_id))
    return render_template("review/take_over.html", letter_id=letter_id, claim=claim, form=form)


@bp.post("/invitations/<int:invitation_id>/send-again")
def send_invitation_again(invitation_id: int):
    """From the list of invitations beside the queue: one whose link ran out, or was lost."""
    if ActionForm().validate_on_submit():
        invitation = invitations.resend_party_invitation(
            db(), signed_in.settings(), signed_in.actor(), invitation_id
        )
        flash(
            f"A new invitation link is on its way to the {invitation.role.label}. "
            "The old link no longer works"
        )
    return redirect(url_for("review.queue", _anchor="invitations"))


@bp.post("/letters/<int:letter_id>/stop-reviewing")
def stop_reviewing(letter_id: int):
    if ActionForm().validate_on_submit():
        claims.stop_reviewing(db(), signed_in.actor(), letter_id)
        flash("You have stopped reviewing the letter. Another facilitator can review it now")
    return redirect(url_for("review.queue"))


@bp.post("/letters/<int:letter_id>/approve")
def approve(letter_id: int):
    form = ApproveForm()

    def approve_letter(session, settings, actor, letter_id):
        return letters.approve_letter(
            session,
            settings,
            actor,
            letter_id,
            form.not_before.data,
            checked_flags=form.checked_flags.data or (),
            confirmed=form.confirmed.data,
            scan_checked=form.scan_checked.data,
        )

    return _decide(letter_id, form, "approve", approve_letter)


@bp.post("/letters/<int:letter_id>/release")
def release(letter_id: int):
    if ActionForm().validate_on_submit():
        letters.release_for_reading(db(), signed_in.settings(), signed_in.actor(), letter_id)
        flash("The letter can now be read")
    return redirect(url_for("review.show", letter_id=letter_id))


@bp.post("/letters/<int:letter_id>/hold")
def hold(letter_id: int):
    if ActionForm().validate_on_submit():
        letters.hold_back(db(), signed_in.actor(), letter_id)
        flash("The letter is held back. The recipient cannot see it until you let it go on")
    return redirect(url_for("review.show", letter_id=letter_id))


@bp.post("/letters/<int:letter_id>/let-go")
def let_go(letter_id: int):
    if ActionForm().validate_on_submit():
        letters.let_go(db(), signed_in.settings(), signed_in.actor(), letter_id)
        flash("The letter goes on again")
    return redirect(url_for("review.show", letter_id=letter_id))


def _decide(letter_id: int, form, name: str, service, *values):
    if form.validate_on_submit():
        try:
            service(
                db(), signed_in.settings(), signed_in.actor(), letter_id, *[v() for v in values]
            )
        except InvalidInput as error:
            show_error(form, error, next(iter(form._fields)))
        else:
            return redirect(url_for("review.show", letter_id=letter_id, decided=1))
    return _render(letter_id, **{name: form})


@bp.get("/letters/<int:letter_id>/printed.pdf")
def printed(letter_id: int):
    """Made for this request only; no-store, so no copy stays in a cache."""
    pdf = post.print_for_post(db(), signed_in.actor(), letter_id)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="relay-letter-{letter_id}.pdf"',
        },
    )


@bp.post("/letters/<int:letter_id>/delivered-on-paper")
def delivered_on_paper(letter_id: int):
    form = DeliveredOnPaperForm()
    if form.validate_on_submit():
        try:
            letters.deliver_on_paper(
                db(), signed_in.actor(), letter_id, how=form.how.data, on=form.on.data
            )
        except InvalidInput as error:
            show_error(form, error, "on")
        else:
            flash("Recorded: the letter has reached them")
            return redirect(url_for("review.show", letter_id=letter_id))
    return _render(letter_id, on_paper=form)


@bp.post("/letters/<int:letter_id>/changes")
def changes(letter_id: int):
    form = ChangesForm()
    return _decide(letter_id, form, "changes", letters.request_changes, lambda: form.note.data)


@bp.post("/letters/<int:letter_id>/reject")
def reject(letter_id: int):
    form = RejectForm()
    return _decide(letter_id, form, "reject", letters.reject_letter, lambda: form.reason.data)


@bp.post("/letters/<int:letter_id>/redact")
def redact(letter_id: int):
    form = RedactionForm(prefix="redact")
    return _decide(
        letter_id,
        form,
        "redact",
        letters.propose_redaction,
        lambda: form.text.data,
        lambda: form.note.data,
    )


@bp.post("/letters/<int:letter_id>/correct-transcript")
def correct_transcript(letter_id: int):
    form = CorrectTranscriptForm(prefix="retype")
    if form.validate_on_submit():
        try:
            letters.correct_transcript(
                db(), signed_in.settings(), signed_in.actor(), letter_id, form.text.data
            )
        except InvalidInput as error:
            show_error(form, error, "text")
        else:
            flash("The letter is typed again. Another facilitator must check it against the scan")
            return redirect(url_for("review.show", letter_id=letter_id))
    return _render(letter_id, retype=form)


@bp.route("/letters/<int:letter_id>/cover-sheet", methods=["GET", "POST"])
def cover_sheet(letter_id: int):
    """The address is typed each time: the sheet comes back as a PDF, and the address is
    kept nowhere (relay/services/post.py says why)."""
    actor = signed_in.actor()
    settings = signed_in.settings()
    form = CoverSheetForm()
    if form.validate_on_submit():
        try:
            sheet = post.cover_sheet_for(db(), actor, letter_id, form.addressee.data, settings)
        except InvalidInput as error:
            show_error(form, error, "addressee")
        else:
            return Response(
                sheet,
                mimetype="application/pdf",
                headers={
                    "Cache-Control": "no-store",
                    "Content-Disposition": (
                        f'inline; filename="relay-cover-sheet-{letter_id}.pdf"'
                    ),
                },
            )
    return render_template(
        "review/cover_sheet.html",
        letter=post.letter_to_post(db(), actor, letter_id),
        form=form,
        return_address=settings.return_address,
    )


@bp.get("/letters/<int:letter_id>/print")
def print_view(letter_id: int):
    """The letter as a page to print from the browser: what the PDF holds, no more."""
    printed = post.letter_to_print(db(), signed_in.actor(), letter_id)
    return render_template(
        "review/print_view.html",
        letter_id=letter_id,
        printed=printed,
        text=text.render(printed.text),
    )
