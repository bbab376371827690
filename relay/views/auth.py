"""Signing in and out, activating an invitation, resetting a password."""

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from relay.extensions import csrf
from relay.extensions import db
from relay.extensions import limiter
from relay.forms import ActionForm
from relay.forms import CodeAccountForm
from relay.forms import CodeForm
from relay.forms import NewPasswordForm
from relay.forms import NoticesForm
from relay.forms import PaperCodeForm
from relay.forms import ResetForm
from relay.forms import ResetRequestForm
from relay.forms import SignInForm
from relay.forms import show_error
from relay.models import Role
from relay.services import accounts
from relay.services import invitations
from relay.services import letters
from relay.services import password_reset
from relay.services import second_factor as second_factors
from relay.services import signing_in
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotFound
from relay.web import headers
from relay.web import signed_in

bp = Blueprint("auth", __name__)


def _sign_in_limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


def _account_link_limit() -> str:
    return current_app.config["ACCOUNT_LINK_RATE_LIMIT"]


# Brute force is slowed per client address here, and per account in the service.
guessing_sign_in = limiter.limit(_sign_in_limit, methods=["POST"])
guessing_link = limiter.limit(_account_link_limit, methods=["POST"])
# A printed code is tried at either of its two steps: one count for both, so that a guesser
# does not get twice the tries by alternating them.
guessing_code = limiter.shared_limit(_account_link_limit, scope="printed-code", methods=["POST"])

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


# The two pages where a letter is typed. A letter sent to one of them after the session
# ended comes back inside the sign-in page, and is saved as a draft once signed in.
WRITING_PAGES = frozenset({"party.write", "party.edit"})


def ask_to_sign_in():
    """Someone not signed in asked for a page behind a gate (relay/views/__init__.py).

    A page they looked at: the sign-in page, then back to it. A letter they sent: the
    sign-in page, carrying the text, so that nothing typed is lost. Any other action: the
    sign-in page (the action is not done). Every visitor who is not signed in gets the
    same answer, so it tells nothing about the page asked for.
    """
    owner = signed_in.close_ended_session()
    if request.method in ("GET", "HEAD"):
        return redirect(url_for("auth.sign_in", next=signed_in.return_path(request.path)))
    if owner is not None and request.endpoint in WRITING_PAGES:
        form = SignInForm(formdata=None)
        form.next.data = signed_in.return_path(request.path, method="POST")
        form.letter.data = request.form.get("text", "")
        signed_in.carry_letter_for(owner)
        # 401: this answer is the sign-in page, not the page that was asked for.
        return render_template("auth/sign_in.html", form=form), 401
    return redirect(url_for("auth.sign_in"), 303)


@bp.route("/sign-in", methods=["GET", "POST"])
@guessing_sign_in
def sign_in():
    form = SignInForm()
    if not form.is_submitted():
        signed_in.close_ended_session()
        form.next.data = signed_in.return_path(request.args.get("next"))
    if form.validate_on_submit():
        carried_for = signed_in.letter_carried_for()
        try:
            outcome = signing_in.sign_in(
                db(), signed_in.settings(), email=form.email.data, password=form.password.data
            )
        except InvalidInput as error:
            show_error(form, error, "email")
        else:
            signed_in.begin_session(outcome.token)
            # Only known pages: never a redirect to an address from the request as it came.
            if outcome.next_step == "verify":
                # Parties sign in in one step; no letter text waits here for a second one.
                signed_in.remember_return(signed_in.return_path(form.next.data))
                return redirect(url_for("auth.second_factor"))
            if outcome.next_step == "enrol":
                return redirect(url_for("auth.set_up_second_factor"))
            if form.letter.data and carried_for == outcome.user.id:
                return _save_carried_letter(outcome.token, form.next.data, form.letter.data)
            return redirect(
                signed_in.return_path(form.next.data) or url_for(HOME_BY_ROLE[outcome.user.role])
            )
    return render_template("auth/sign_in.html", form=form)


def _save_carried_letter(token: str, path: str, text: str):
    """Save as a draft the letter that was sent after the session ended, then open it."""
    actor = signed_in.actor_of_token(token)
    path = signed_in.return_path(path, method="POST")
    try:
        endpoint, values = current_app.url_map.bind("localhost").match(path, method="POST")
    except (HTTPException, TypeError):  # TypeError: no path at all
        endpoint, values = None, {}
    if actor is None or endpoint not in WRITING_PAGES:
        return redirect(url_for("auth.home"))
    letter_id = values.get("letter_id")
    try:
        case_id = (
            letters.letter_for_author(db(), actor, letter_id).case_id
            if letter_id is not None
            else values["case_id"]
        )
        letter = letters.save_draft(db(), actor, case_id, letter_id, text)
    except (InvalidInput, InvalidTransition, NotFound) as error:
        # Nothing typed is lost: the text is shown back, to copy, with the reason.
        reason = None if isinstance(error, NotFound) else str(error)
        return render_template("auth/letter_not_saved.html", text=text, reason=reason)
    flash(signed_in.TIMED_OUT)
    return redirect(url_for("party.edit", letter_id=letter.id))


def _pending_token() -> str:
    token = signed_in.session_token()
    if not token or second_factors.pending_user(db(), token) is None:
        abort(404)
    return token


@bp.route("/sign-in/code", methods=["GET", "POST"])
@guessing_sign_in
def second_factor():
    token = _pending_token()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            user = second_factors.verify(db(), signed_in.settings(), token, form.code.data)
        except InvalidInput as error:
            show_error(form, error, "code")
        else:
            return redirect(signed_in.take_return() or url_for(HOME_BY_ROLE[user.role]))
    return render_template("auth/second_factor.html", form=form)


def _enrolment_token() -> str:
    """This browser's sign-in, if it may set up (or, signed in, change) a second step."""
    token = signed_in.session_token()
    if not token:
        abort(404)
    # A finished sign-in must still be live: asking for current_user applies the idle
    # and absolute limits (and ends the session if it is past them).
    if second_factors.pending_user(db(), token) is None and not current_user.is_authenticated:
        abort(404)
    if not second_factors.may_enrol(db(), token):
        abort(404)
    return token


def _set_up_start_page(token: str, form=None):
    changing = second_factors.needs_current_code(db(), token)
    if form is None:
        form = CodeForm(formdata=None) if changing else ActionForm()
    return render_template("auth/set_up_start.html", form=form, changing=changing)


@bp.get("/sign-in/set-up")
def set_up_second_factor():
    return _set_up_start_page(_enrolment_token())


@bp.post("/sign-in/set-up/start")
@guessing_sign_in
def start_second_factor():
    token = _enrolment_token()
    changing = second_factors.needs_current_code(db(), token)
    form = CodeForm() if changing else ActionForm()
    if not form.validate_on_submit():
        return _set_up_start_page(token, form)
    try:
        secret = second_factors.begin_enrolment(
            db(), signed_in.settings(), token, current_code=form.code.data if changing else None
        )
    except InvalidInput as error:
        show_error(form, error, "code")
        return _set_up_start_page(token, form)
    return _set_up_page(secret, CodeForm(formdata=None))


def _set_up_page(secret: str, form):
    record_user = second_factors.pending_user(db(), signed_in.session_token()) or current_user.user
    return render_template(
        "auth/set_up_code.html",
        form=form,
        secret=secret,
        qr=second_factors.provisioning_qr(secret, record_user.email),
    )


@bp.post("/sign-in/set-up/confirm")
@guessing_sign_in
def confirm_second_factor():
    token = _enrolment_token()
    form = CodeForm()
    secret = second_factors.pending_secret(db(), signed_in.settings(), token)
    if secret is None:
        abort(404)
    if form.validate_on_submit():
        try:
            codes = second_factors.complete_enrolment(
                db(), signed_in.settings(), token, form.code.data
            )
        except InvalidInput as error:
            show_error(form, error, "code")
        else:
            return render_template("auth/backup_codes.html", codes=codes)
    return _set_up_page(secret, form)


@bp.post("/sign-out")
def sign_out():
    if ActionForm().validate_on_submit():
        signed_in.end_session()
    return redirect(url_for("auth.signed_out"))


@bp.get("/leave")
def leave():
    """Leave this site (the link, or Escape pressed three times): end the session here, on the
    server, and have the browser forget Relay, then show an everyday site. A GET, so that
    the plain link works without JavaScript; relay.js replaces the page with it, so Back
    does not come here. Nothing on the way says what happened."""
    signed_in.end_session(left_the_site=True)
    response = redirect(current_app.config["QUICK_EXIT_URL"])
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@bp.post("/session/keep-alive")
def keep_alive():
    """The warning's "Stay signed in" before the idle limit (relay.js)."""
    if not signed_in.keep_alive():
        abort(404)
    return "", 204


@bp.post("/session/time-out")
def time_out():
    """The warning's countdown ran out: relay.js has had the draft saved, and asks for the
    session to end before it shows the sign-in page."""
    signed_in.time_out()
    return "", 204


@bp.get("/signed-out")
def signed_out():
    return render_template("auth/signed_out.html")


@bp.route("/activate/<token>", methods=["GET", "POST"])
@guessing_link
def activate(token: str):
    # Only its address is shown: the row itself may be revoked while the form is posted,
    # and a refusal's rollback would then reload a row that is gone.
    email = invitations.open_invitation(db(), token).email
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            created = invitations.accept_invitation(
                db(), signed_in.settings(), token=token, password=form.password.data
            )
        except InvalidInput as error:
            show_error(form, error, "password")
        else:
            return render_template(
                "auth/recovery_code.html", code=created.recovery_code, email=created.user.email
            )
    return render_template("auth/activate.html", form=form, email=email)


@bp.route("/code", methods=["GET", "POST"])
@guessing_code
def enter_code():
    """The "I have a code" page: a party on paper sets up their account with the code their
    facilitator printed for them (relay/services/invitations.py `open_code`)."""
    form = PaperCodeForm()
    if form.validate_on_submit():
        try:
            invitations.open_code(db(), form.code.data)
        except InvalidInput as error:
            show_error(form, error, "code")
        else:
            return render_template(
                "auth/code_account.html", form=CodeAccountForm(formdata=None, code=form.code.data)
            )
    return render_template("auth/enter_code.html", form=form)


@bp.post("/code/account")
@guessing_code
def code_account():
    form = CodeAccountForm()
    if form.validate_on_submit():
        try:
            created = invitations.accept_code(
                db(),
                signed_in.settings(),
                code=form.code.data,
                email=form.email.data,
                password=form.password.data,
            )
        except InvalidInput as error:
            if error.field == "code":
                # Used, replaced or expired while the page was open: back to the code.
                again = PaperCodeForm(formdata=None)
                show_error(again, error, "code")
                return render_template("auth/enter_code.html", form=again)
            show_error(form, error, "password")
        else:
            return render_template(
                "auth/recovery_code.html", code=created.recovery_code, email=created.user.email
            )
    return render_template("auth/code_account.html", form=form)


@bp.route("/reset", methods=["GET", "POST"])
@guessing_link
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        password_reset.request_password_reset(db(), signed_in.settings(), email=form.email.data)
        return render_template("auth/reset_sent.html")
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@guessing_link
def reset(token: str):
    password_reset.open_password_reset(db(), token)
    form = ResetForm()
    if form.validate_on_submit():
        try:
            if form.recovery_code.data:
                code = password_reset.reset_password(
                    db(),
                    signed_in.settings(),
                    token=token,
                    recovery_code=form.recovery_code.data,
                    new_password=form.password.data,
                )
            else:
                code = password_reset.reset_password_without_code(
                    db(), signed_in.settings(), token=token, new_password=form.password.data
                )
        except InvalidInput as error:
            show_error(form, error, "password")
        else:
            return render_template("auth/recovery_code.html", code=code, reset=True)
    return render_template("auth/reset.html", form=form)


@bp.route("/account/e-mails", methods=["GET", "POST"])
def notices():
    actor = signed_in.actor()
    form = NoticesForm(notices=actor.user.notice_preference.value)
    if form.validate_on_submit():
        accounts.set_notice_preference(db(), actor, form.notices.data)
        return redirect(url_for("auth.home"))
    return render_template("auth/notices.html", form=form)


@bp.get("/account/sessions")
def sessions():
    actor = signed_in.actor()
    token = signed_in.session_token()
    records = signing_in.active_sessions(db(), signed_in.settings(), actor.user)
    return render_template(
        "auth/sessions.html",
        records=[(record, signing_in.is_session_of_token(record, token)) for record in records],
        form=ActionForm(),
    )


@bp.post("/account/sessions/<int:session_id>/end")
def end_session(session_id: int):
    if ActionForm().validate_on_submit():
        signing_in.end_own_session(db(), signed_in.actor(), session_id)
    return redirect(url_for("auth.sessions"))


@bp.post("/account/sessions/end-all")
def sign_out_everywhere():
    if ActionForm().validate_on_submit():
        signing_in.sign_out_everywhere(db(), signed_in.actor())
        signed_in.end_session()
        return redirect(url_for("auth.signed_out"))
    return redirect(url_for("auth.sessions"))


@bp.post("/csp-report")
@csrf.exempt
@limiter.limit("60 per minute")
def csp_report():
    """Count Content-Security-Policy violations the browser reports (the XSS tests read it).

    Only the violated directive is kept: a report's URLs could carry personal data.
    """
    body = request.get_json(force=True, silent=True)
    report = body.get("csp-report") if isinstance(body, dict) else None
    # Only the shape browsers send, {"csp-report": {...}}; anything else is a bad request.
    if not isinstance(report, dict):
        abort(400)
    directive = str(report.get("effective-directive") or report.get("violated-directive", ""))
    headers.record_csp_violation(directive[:40])
    return "", 204
