"""The authorisation matrix: every route x every role, and every role x a case not theirs.

The table below declares, per route and method, what each role gets on case A:
"A" (allowed: the page answers, perhaps with a form error or a 409 for a state the
action does not fit) or "R" (refused: 404, or 403 for staff who may see but not act).
A route added to the app without an entry here fails `test_every_route_has_an_entry`.
"""

import io
from datetime import date
from urllib.parse import urlsplit

import pytest

from tests.factories import Resources
from tests.paper import scan_of

ROLES = ("anonymous", "victim", "offender", "other_facilitator", "facilitator", "administrator")

# endpoint, method: one letter per role, in the order of ROLES.
MATRIX: dict[tuple[str, str], str] = {
    ("static", "GET"): "AAAAAA",
    # Someone not signed in is asked to sign in (counted as refused), here as on every
    # gated page.
    ("auth.home", "GET"): "RAAAAA",
    ("auth.sign_in", "GET"): "AAAAAA",
    ("auth.sign_in", "POST"): "AAAAAA",
    ("auth.signed_out", "GET"): "AAAAAA",
    ("auth.activate", "GET"): "AAAAAA",
    ("auth.activate", "POST"): "AAAAAA",
    ("auth.reset_request", "GET"): "AAAAAA",
    ("auth.reset_request", "POST"): "AAAAAA",
    ("auth.reset", "GET"): "AAAAAA",
    ("auth.reset", "POST"): "AAAAAA",
    ("auth.second_factor", "GET"): "RRRRRR",
    ("auth.second_factor", "POST"): "RRRRRR",
    ("auth.notices", "GET"): "RAAAAA",
    ("auth.notices", "POST"): "RAAAAA",
    ("auth.sessions", "GET"): "RAAAAA",
    ("auth.set_up_second_factor", "GET"): "RAAAAA",
    ("auth.start_second_factor", "POST"): "RAAAAA",
    ("auth.confirm_second_factor", "POST"): "RAAAAA",
    ("auth.end_session", "POST"): "RARRRR",
    ("auth.sign_out_everywhere", "POST"): "RAAAAA",
    ("auth.sign_out", "POST"): "AAAAAA",
    ("auth.csp_report", "POST"): "AAAAAA",
    # A printed one-time code is taken by anyone (a wrong one gets the same form error).
    ("auth.enter_code", "GET"): "AAAAAA",
    ("auth.enter_code", "POST"): "AAAAAA",
    ("auth.code_account", "POST"): "AAAAAA",
    # Leaving the site, and the page's countdown running out, end whatever session there is.
    ("auth.leave", "GET"): "AAAAAA",
    ("auth.time_out", "POST"): "AAAAAA",
    ("auth.keep_alive", "POST"): "RAAAAA",
    ("admin.home", "GET"): "RRRRRA",
    ("admin.invite", "GET"): "RRRRRA",
    ("admin.invite", "POST"): "RRRRRA",
    ("admin.restore_access", "GET"): "RRRRRA",
    ("admin.restore_access", "POST"): "RRRRRA",
    ("admin.pending_invitations", "GET"): "RRRRRA",
    ("admin.resend_invitation", "POST"): "RRRRRA",
    ("admin.revoke_invitation", "GET"): "RRRRRA",
    ("admin.revoke_invitation", "POST"): "RRRRRA",
    ("admin.person", "GET"): "RRRRRA",
    # Without a facilitator to hand to, the case's only facilitator stays (a form error).
    ("admin.hand_over", "POST"): "RRRRRA",
    # Without the confirmation ticked, nothing is closed (a form error).
    ("admin.close_account", "GET"): "RRRRRA",
    ("admin.close_account", "POST"): "RRRRRA",
    ("admin.audit_status", "GET"): "RRRRRA",
    ("admin.audit_status", "POST"): "RRRRRA",
    # A subject access request: the page for an administrator; the file only once they
    # have added themselves to the case (the world's administrator has not: 403).
    ("admin.subject_access", "GET"): "RRRRRA",
    ("admin.subject_access", "POST"): "RRRRRR",
    # What the retention run will shred in the next 30 days: references and dates only.
    ("admin.retention_due", "GET"): "RRRRRA",
    # The dashboard: staff only, each their own figures (an administrator every case's).
    ("dashboard.show", "GET"): "RRRAAA",
    ("dashboard.export", "POST"): "RRRAAA",
    ("cases.home", "GET"): "RRRAAA",
    ("cases.new", "GET"): "RRRAAA",
    ("cases.new", "POST"): "RRRAAR",
    ("cases.show", "GET"): "RRRRAA",
    ("cases.invite", "GET"): "RRRRAA",
    ("cases.invite", "POST"): "RRRRAR",
    ("cases.add_paper_party", "GET"): "RRRRAA",
    ("cases.add_paper_party", "POST"): "RRRRAR",
    # Without a person chosen, nothing changes: back to the case page.
    ("cases.change_paper", "POST"): "RRRRAA",
    ("cases.print_code", "POST"): "RRRRAA",
    ("cases.record_gate", "POST"): "RRRRAR",
    ("cases.assess_risk", "POST"): "RRRRAR",
    ("cases.add_note", "POST"): "RRRRAR",
    # The timeline is for the case's staff; only an administrator exports it.
    ("cases.timeline", "GET"): "RRRRAA",
    ("cases.export_timeline", "POST"): "RRRRRA",
    ("cases.activate", "POST"): "RRRRAR",
    ("cases.pause", "POST"): "RRRRAR",
    ("cases.resume", "POST"): "RRRRAR",
    ("cases.close", "GET"): "RRRRAA",
    ("cases.close", "POST"): "RRRRAR",
    ("cases.paper_letter", "GET"): "RRRRAA",
    ("cases.paper_letter", "POST"): "RRRRAR",
    ("cases.type_paper_letter", "GET"): "RRRRAR",
    ("cases.type_paper_letter", "POST"): "RRRRAR",
    ("cases.discard_scan", "POST"): "RRRRAR",
    ("cases.scan_page", "GET"): "RRRRAR",
    ("cases.add_facilitator", "POST"): "RRRRAA",
    ("cases.restore_access", "POST"): "RRRRAA",
    ("cases.join", "POST"): "RRRRRA",
    ("cases.remove_facilitator", "POST"): "RRRRAA",
    # Referrals hold no names and come before a case: every facilitator of the service
    # sees and records them; an administrator sees only the dashboard's counts (403).
    # The closing survey on paper: the case's facilitators print the form and enter it;
    # an administrator sees the case's surveys on its page but does neither (403). The
    # person harmed here takes part through Relay, so her facilitator is refused in words
    # (409, counted as reached): only a party on paper or without an account has a form.
    # Entering before the case closes is a form that says so (allowed).
    ("cases.survey_print", "GET"): "RRRRAR",
    ("cases.enter_survey", "GET"): "RRRRAR",
    ("cases.enter_survey", "POST"): "RRRRAR",
    ("cases.referral_list", "GET"): "RRRAAR",
    ("cases.new_referral", "GET"): "RRRAAR",
    ("cases.new_referral", "POST"): "RRRAAR",
    ("cases.referral", "GET"): "RRRAAR",
    ("cases.referral", "POST"): "RRRAAR",
    ("cases.open_referral_case", "GET"): "RRRAAR",
    ("cases.open_referral_case", "POST"): "RRRAAR",
    ("review.queue", "GET"): "RRRAAA",
    # An administrator reads a case's letters only after adding themselves to it, and
    # only the case's facilitators decide on them.
    ("review.show", "GET"): "RRRRAR",
    ("review.changes", "POST"): "RRRRAR",
    ("review.reject", "POST"): "RRRRAR",
    ("review.redact", "POST"): "RRRRAR",
    ("review.approve", "POST"): "RRRRAR",
    ("review.release", "POST"): "RRRRAR",
    ("review.hold", "POST"): "RRRRAR",
    ("review.let_go", "POST"): "RRRRAR",
    ("review.take_over", "GET"): "RRRRAR",
    ("review.take_over", "POST"): "RRRRAR",
    ("review.stop_reviewing", "POST"): "RRRRAR",
    ("review.delivered_on_paper", "POST"): "RRRRAR",
    ("review.printed", "GET"): "RRRRAR",
    ("review.cover_sheet", "GET"): "RRRRAR",
    ("review.cover_sheet", "POST"): "RRRRAR",
    ("review.print_view", "GET"): "RRRRAR",
    ("review.correct_transcript", "POST"): "RRRRAR",
    # The world's pending invitation is to a member of staff, which no facilitator sends
    # again; their own parties' invitations: tests/web/test_review_queue.py.
    ("review.send_invitation_again", "POST"): "RRRRRR",
    ("party.home", "GET"): "RAARRR",
    ("party.stop", "GET"): "RAARRR",
    ("party.case", "GET"): "RAARRR",
    ("party.write", "GET"): "RAARRR",
    ("party.write", "POST"): "RAARRR",
    ("party.receiving", "GET"): "RAARRR",
    ("party.receiving", "POST"): "RAARRR",
    ("party.receiving_choice", "POST"): "RAARRR",
    ("party.letter", "GET"): "RAARRR",
    ("party.edit", "GET"): "RAARRR",
    ("party.edit", "POST"): "RAARRR",
    ("party.accept", "POST"): "RAARRR",
    ("party.decline", "POST"): "RAARRR",
    ("party.before_opening", "GET"): "RAARRR",
    ("party.open_letter", "POST"): "RAARRR",
    ("party.hold", "POST"): "RAARRR",
    ("party.unhold", "POST"): "RAARRR",
    ("party.destroy", "GET"): "RAARRR",
    ("party.withdraw", "GET"): "RAARRR",
    ("party.withdraw_letter", "GET"): "RAARRR",
    ("party.withdraw_letter", "POST"): "RAARRR",
    ("party.delete_draft", "GET"): "RAARRR",
    ("party.delete_draft", "POST"): "RAARRR",
    ("party.destroy", "POST"): "RAARRR",
    ("party.withdraw", "POST"): "RAARRR",
    # A party's own survey: before the case closes a page that says so, and a 409 for an
    # answer (allowed); never the other party's (tests/web/test_survey_pages.py).
    ("party.survey", "GET"): "RAARRR",
    ("party.survey", "POST"): "RAARRR",
    ("party.my_data", "GET"): "RAARRR",
    ("party.my_data", "POST"): "RAARRR",
}

# Requests that end the session, the case or a letter run last, in this order.
LAST = [
    ("admin.revoke_invitation", "POST"),
    ("party.delete_draft", "POST"),
    ("party.withdraw_letter", "POST"),
    ("party.destroy", "POST"),
    ("cases.close", "POST"),
    ("cases.discard_scan", "POST"),
    ("party.withdraw", "POST"),
    ("auth.end_session", "POST"),
    ("auth.sign_out_everywhere", "POST"),
    ("auth.sign_out", "POST"),
    ("auth.time_out", "POST"),
    ("auth.leave", "GET"),
]

FORMS = {
    "auth.sign_in": {"email": "nobody@relay.test", "password": "wrong password"},
    "cases.new": {"reference": "NEW-CASE", "offence_category": "theft"},
    "cases.invite": {"role": "victim", "email": "d@example.com", "name": "D", "display_name": "D"},
    "cases.type_paper_letter": {"text": "A letter from paper."},
    "review.cover_sheet": {"addressee": "HMP Nowhere\nZZ99 1AA"},
    "review.correct_transcript": {"retype-text": "A letter typed again."},
    "cases.add_paper_party": {"role": "offender", "display_name": "D"},
    "review.delivered_on_paper": {"how": "posted", "on": "2026-01-01"},
    "cases.add_facilitator": {"email": "nobody@relay.test"},
    "cases.close": {"outcome": "completed"},
    "cases.record_gate": {"consent-evidence": "Consent form signed, file 12"},
    "cases.assess_risk": {
        "risk-0-level": "low",
        "risk-0-review_on": "2099-01-01",
        "risk-0-evidence": "Risk form on file",
    },
    "cases.add_note": {"text": "A note for the team."},
    "cases.pause": {"reason": "A safeguarding concern."},
    "cases.new_referral": {
        "received_on": "2026-01-01",
        "source": "police",
        "offence_category": "theft",
    },
    "cases.referral": {"status": "declined", "decline_reason": "not_ready"},
    "cases.open_referral_case": {"reference": "RJ-FROM-REFERRAL"},
    "cases.enter_survey": {"satisfied": "yes", "comment": "From the printed form."},
    "party.survey": {"satisfied": "yes", "comment": "How it went."},
    "party.write": {"text": "A new draft.", "save": "1"},
    "party.edit": {"text": "Changed.", "save": "1"},
    "party.receiving": {"preference": "receive"},
    "party.receiving_choice": {"preference": "receive"},
    "admin.invite": {"name": "New", "email": "new-staff@relay.test"},
    "admin.restore_access": {"checked": "y"},
    # Complete forms, so that a decision that goes through answers 302 (allowed), not a
    # page with a form error that would hide a hole.
    "review.changes": {"note": "Please say more about how you feel now."},
    "review.reject": {"reason": "This letter cannot be passed on."},
    "review.redact": {"redact-text": "A changed letter.", "redact-note": "Removed a name."},
    "auth.notices": {"notices": "standard"},
}


def _a_referral(app) -> int:
    """The referral the referral pages are pointed at: the worlds hold none, so the world's
    facilitator records one, through the service, the first time a page asks."""
    from sqlalchemy import select

    from relay.models import Referral
    from relay.services import referrals
    from tests.factories import PEOPLE
    from tests.factories import actor_for

    with app.extensions["relay.sessionmaker"]() as session:
        found = session.scalar(select(Referral.id).order_by(Referral.id))
        if found is None:
            email, _name, password = PEOPLE["facilitator"]
            facilitator = actor_for(session, app.extensions["relay.settings"], email, password)
            found = referrals.record_referral(
                session,
                facilitator,
                received_on=date(2026, 1, 1),
                source="police",
                offence_category="theft",
                today=date(2026, 1, 1),
            ).id
        return found


def _the_person_harmed(app, case_id: int) -> int:
    """The participant id of the case's person harmed: the survey pages are about them."""
    from sqlalchemy import select

    from relay.models import CaseParticipant
    from relay.models import Role

    with app.extensions["relay.sessionmaker"]() as session:
        return session.scalar(
            select(CaseParticipant.id).where(
                CaseParticipant.case_id == case_id, CaseParticipant.role == Role.VICTIM
            )
        )


def _url(app, endpoint: str, role: str, resources: Resources) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {}
    for name in rule.arguments:
        if name == "case_id":
            values[name] = resources.case_id
        elif name == "letter_id":
            if endpoint.startswith("review."):
                values[name] = resources.review_letter
            elif endpoint in (
                "party.before_opening",
                "party.open_letter",
                "party.hold",
                "party.unhold",
                "party.destroy",
            ):
                values[name] = resources.recipient_letter.get(
                    role, resources.recipient_letter["victim"]
                )
            else:
                values[name] = resources.author_letter.get(role, resources.author_letter["victim"])
        elif name == "user_id" and (
            endpoint.startswith("admin.") or endpoint == "cases.remove_facilitator"
        ):
            values[name] = resources.staff_user_id
        elif name == "user_id":
            values[name] = resources.user_id
        elif name == "invitation_id":
            values[name] = resources.invitation_id
        elif name == "session_id":
            values[name] = resources.session_id
        elif name == "gate":
            values[name] = "consent"
        elif name == "token":
            values[name] = "not-a-real-token"
        elif name == "filename":
            values[name] = "relay.css"
        elif name == "referral_id":
            values[name] = _a_referral(app)
        elif name == "scan_id":
            values[name] = resources.scan_id
        elif name == "number":
            values[name] = 1
        elif name == "party":
            values[name] = "victim"
        elif name == "participant_id":
            values[name] = _the_person_harmed(app, resources.case_id)
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **values)


def _form(endpoint: str) -> dict:
    """The form each POST sends, made afresh: a file is read once."""
    if endpoint == "cases.paper_letter":
        scan = (io.BytesIO(scan_of(["A letter from paper."])), "scan.png")
        return {"author": "offender", "received_on": "2026-01-01", "scan": scan}
    return FORMS.get(endpoint, {})


def _outcome(response) -> str:
    response.close()
    assert response.status_code < 500, response.text
    # Not signed in, a gated page asks to sign in: a redirect to the sign-in page, or (a
    # letter sent after the session ended) the sign-in page itself, answered 401.
    asked_to_sign_in = response.status_code == 401 or (
        response.status_code in (302, 303)
        and urlsplit(response.headers["Location"]).path == "/sign-in"
    )
    return "R" if response.status_code in (403, 404) or asked_to_sign_in else "A"


def _ordered():
    first = [cell for cell in MATRIX if cell not in LAST]
    first.sort(key=lambda cell: cell[1] != "GET")  # look before acting
    return first + LAST


def test_every_route_has_an_entry(app):
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes - MATRIX.keys() == set(), "add the new route to MATRIX"
    assert MATRIX.keys() - routes == set(), "MATRIX names a route that no longer exists"
    assert all(len(cells) == len(ROLES) for cells in MATRIX.values())


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_matrix_says(app, client, auth, two_cases, role):
    case_a, _case_b = two_cases
    auth.sign_in(role)
    wrong = []
    for endpoint, method in _ordered():
        expected = MATRIX[(endpoint, method)][ROLES.index(role)]
        url = _url(app, endpoint, role, case_a)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data=_form(endpoint))
        if _outcome(response) != expected:
            wrong.append(
                f"{method} {url} ({endpoint}): expected {expected}, got {response.status_code}"
            )
    assert wrong == []


RESOURCE_PARAMS = {"case_id", "letter_id", "user_id", "session_id", "scan_id"}


@pytest.mark.parametrize("role", ["victim", "offender", "facilitator"])
def test_nobody_reaches_a_case_that_is_not_theirs(app, client, auth, two_cases, role):
    _case_a, case_b = two_cases
    auth.sign_in(role)
    reached = []
    for endpoint, method in _ordered():
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        if not rule.arguments & RESOURCE_PARAMS:
            continue
        url = _url(app, endpoint, "victim" if role == "facilitator" else role, case_b)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data=_form(endpoint))
        if _outcome(response) != "R":
            reached.append(f"{method} {url} ({endpoint}): {response.status_code}")
    assert reached == []
