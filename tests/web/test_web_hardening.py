"""CSRF on every POST route and security headers on every page, both from the URL map."""

import logging

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from relay.models import AuditEntry
from relay.models import CaseState
from relay.models import OutboxMessage
from relay.models import User
from relay.services import accounts
from relay.services import invitations
from relay.services import outbox
from relay.services import password_reset
from relay.services import signing_in
from tests.conftest import PEOPLE
from tests.conftest import build_app
from tests.factories import actor_for
from tests.web.test_authorisation import MATRIX
from tests.web.test_authorisation import ROLES
from tests.web.test_authorisation import _url

# The browser sends CSP reports without a token: the one POST that changes nothing.
POST_ROUTES = sorted(
    cell[0] for cell in MATRIX if cell[1] == "POST" and cell[0] != "auth.csp_report"
)
GET_ROUTES = sorted(cell[0] for cell in MATRIX if cell[1] == "GET")


@pytest.mark.parametrize("role", ["anonymous", "victim", "facilitator"])
def test_every_post_without_a_csrf_token_is_refused(app, client, auth, two_cases, session, role):
    case_a, _case_b = two_cases
    auth.sign_in(role)  # signs in while CSRF is still off in the test config
    app.config["WTF_CSRF_ENABLED"] = True
    accepted = []
    for endpoint in POST_ROUTES:
        response = client.post(_url(app, endpoint, role, case_a), data={"text": "x"})
        response.close()
        if response.status_code != 400 or "CSRF" not in response.text:
            accepted.append(f"{endpoint}: {response.status_code}")
    assert accepted == []
    session.expire_all()
    from relay.models import Case

    assert session.get(Case, case_a.case_id).state == CaseState.ACTIVE


EXPECTED_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=()",
    "X-Frame-Options": "DENY",
}


def test_every_page_sends_the_security_headers(app, client, auth, two_cases):
    case_a, _case_b = two_cases
    missing = []
    for role in ROLES:
        auth.sign_out()
        auth.sign_in(role)
        for endpoint in GET_ROUTES:
            if MATRIX[(endpoint, "GET")][ROLES.index(role)] != "A":
                continue
            response = client.get(_url(app, endpoint, role, case_a))
            response.close()
            for name, fragment in EXPECTED_HEADERS.items():
                if fragment not in response.headers.get(name, ""):
                    missing.append(f"{role} {endpoint}: {name}")
            if endpoint != "static" and response.headers.get("Cache-Control") != "no-store":
                missing.append(f"{role} {endpoint}: Cache-Control")
    assert missing == []


def _csp_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "relay.web.headers"]


def test_csp_reports_are_logged_without_their_urls(client, caplog):
    report = {
        "csp-report": {
            "violated-directive": "script-src-elem",
            "blocked-uri": "https://evil.example/steal?name=Jo",
        }
    }
    with caplog.at_level(logging.WARNING, logger="relay.web.headers"):
        assert client.post("/csp-report", json=report).status_code == 204
    assert _csp_logged(caplog) == ["content security policy violation: script-src-elem"]
    assert "evil.example" not in caplog.text and "Jo" not in caplog.text


def test_content_security_policy_allows_no_inline_script_or_style(client):
    policy = client.get("/sign-in").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "form-action 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_no_page_carries_inline_script_or_style(client):
    page = client.get("/sign-in").text
    assert "<script>" not in page and "style=" not in page and "<style" not in page


def test_hsts_and_secure_cookies_outside_development(app, client):
    app.config["HSTS"] = True
    assert "max-age=" in client.get("/sign-in").headers["Strict-Transport-Security"]
    from config.settings import load_settings

    production = load_settings(
        "production",
        {
            "SECRET_KEY": "x" * 40,
            "SESSION_KEY": "A" * 43 + "=",
            "DATABASE_URL": "postgresql+psycopg://relay@db/relay",
        },
    )
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert production["HSTS"] is True


# --- bad input gets a 4xx page, never a 500 ----------------------------------------------
# PostgreSQL refuses a NUL in text and an id beyond its 32-bit integers; both used to
# surface as 500s (and as noise that hides real faults). CI runs these on PostgreSQL too.

ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD = PEOPLE["administrator"]
NEWCOMER_EMAIL = "newcomer@relay.test"
NEW_PASSWORD = "a brand new phrase"
NUL = "\x00"


@pytest.fixture
def account_forms(session, settings):
    """Each sign-in and account-link form with answers that would succeed."""
    created = accounts.create_administrator(
        session, settings, email=ADMIN_EMAIL, name=ADMIN_NAME, password=ADMIN_PASSWORD
    )
    admin = actor_for(session, settings, ADMIN_EMAIL, ADMIN_PASSWORD)
    invitation = invitations.invite_staff(
        session, settings, admin, email=NEWCOMER_EMAIL, name="Nia Newcomer"
    )
    password_reset.request_password_reset(session, settings, email=ADMIN_EMAIL)
    message = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    reset = outbox.read_body(settings.outbox_key, message).split("/reset/")[1].split()[0]
    new_password = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    return {
        "sign-in": ("/sign-in", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        "reset-request": ("/reset", {"email": ADMIN_EMAIL}),
        "reset": (
            f"/reset/{reset}",
            {"recovery_code": created.recovery_code, **new_password},
        ),
        "activate": (f"/activate/{invitation}", new_password),
    }


def _audit_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(AuditEntry))


def _assert_bad_request_page(response) -> None:
    assert response.status_code == 400, response.text
    assert "Something was not right" in response.text
    assert "Traceback" not in response.text
    assert "psycopg" not in response.text and "sqlalchemy" not in response.text


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ("sign-in", "email"),
        ("sign-in", "password"),
        ("reset-request", "email"),
        ("reset", "recovery_code"),
        ("reset", "password"),
        ("reset", "confirm"),
        ("activate", "password"),
        ("activate", "confirm"),
    ],
)
def test_a_nul_in_any_account_form_field_is_refused_with_400(
    client, session, account_forms, form, field
):
    url, answers = account_forms[form]
    audit_before = _audit_count(session)
    sealed_before = session.scalar(
        select(User.authenticator_digest).where(User.email == ADMIN_EMAIL)
    )

    response = client.post(url, data={**answers, field: answers[field][:3] + NUL})

    _assert_bad_request_page(response)
    # Refused before any service ran: nothing signed in, reset, activated or recorded.
    assert _audit_count(session) == audit_before
    assert (
        session.scalar(select(User.authenticator_digest).where(User.email == ADMIN_EMAIL))
        == sealed_before
    )
    assert session.scalar(select(User).where(User.email == NEWCOMER_EMAIL)) is None
    assert client.get("/account/sessions").status_code == 404


def test_a_nul_in_a_query_argument_or_a_path_is_refused_with_400(client):
    _assert_bad_request_page(client.get(f"/sign-in?next=a{NUL}b"))
    _assert_bad_request_page(client.get(f"/sign-in?a{NUL}b=next"))
    _assert_bad_request_page(client.get("/activate/ab%00cd"))


def test_a_csp_report_cannot_write_a_log_line_of_its_own(client, caplog):
    forged = "script-src\nCRITICAL fake entry"
    report = {"csp-report": {"violated-directive": forged}}
    with caplog.at_level(logging.WARNING, logger="relay.web.headers"):
        assert client.post("/csp-report", json=report).status_code == 204
    assert _csp_logged(caplog) == ["content security policy violation: script-srcfakeentry"]


def test_a_nul_in_a_json_string_is_refused_with_400(client, caplog):
    report = {"csp-report": {"violated-directive": f"script-src{NUL}"}}
    with caplog.at_level(logging.WARNING, logger="relay.web.headers"):
        _assert_bad_request_page(client.post("/csp-report", json=report))
    assert _csp_logged(caplog) == []


@pytest.mark.parametrize("body", [[1, 2], "a string", {"csp-report": ["a"]}, 42])
def test_a_csp_report_that_is_not_a_json_object_is_refused_with_400(client, caplog, body):
    with caplog.at_level(logging.WARNING, logger="relay.web.headers"):
        response = client.post("/csp-report", json=body)
    assert response.status_code == 400, response.text
    assert "Traceback" not in response.text
    assert _csp_logged(caplog) == []


BIG_IDS = ["2147483648", "99999999999", "9" * 40]


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        ("facilitator", "GET", "/cases/{id}"),
        ("facilitator", "POST", "/cases/{id}/pause"),
        ("facilitator", "POST", "/cases/1/restore-access/{id}"),
        ("facilitator", "GET", "/review/letters/{id}"),
        ("facilitator", "POST", "/review/letters/{id}/approve"),
        ("victim", "GET", "/my/cases/{id}"),
        ("victim", "GET", "/my/letters/{id}"),
        ("victim", "POST", "/my/received/{id}/open"),
        ("victim", "POST", "/account/sessions/{id}/end"),
    ],
)
def test_an_id_beyond_the_database_integers_is_not_found(client, auth, world, role, method, path):
    auth.sign_in(role)
    for big in BIG_IDS:
        response = client.open(path.format(id=big), method=method)
        assert response.status_code == 404, (big, response.text)
        assert "Page not found" in response.text
    # The largest id the database holds is an ordinary miss, not a fault either.
    response = client.open(path.format(id=str(2**31 - 1)), method=method)
    assert response.status_code == 404, response.text


def test_an_unexpected_error_is_logged_with_its_traceback_but_no_secret(
    database_url, tmp_path, monkeypatch, caplog
):
    # As in production: not testing, not debugging.
    app = build_app(database_url, tmp_path, TESTING=False)
    with app.extensions["relay.sessionmaker"]() as session:
        accounts.create_administrator(
            session,
            app.extensions["relay.settings"],
            email=ADMIN_EMAIL,
            name=ADMIN_NAME,
            password=ADMIN_PASSWORD,
        )

    def failing_sign_in(session, settings, *, email, password):
        # A fault in the database layer, with the password among the statement's values.
        session.execute(select(User).where(User.email == password, text("no_such_column = 1")))

    monkeypatch.setattr(signing_in, "sign_in", failing_sign_in)
    with caplog.at_level(logging.ERROR, logger="relay.web.errors"):
        response = app.test_client().post(
            "/sign-in", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )

    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in response.text
    assert ADMIN_PASSWORD not in response.text and "Traceback" not in response.text
    [record] = [r for r in caplog.records if r.name == "relay.web.errors"]
    assert record.exc_info is not None, "the traceback must be logged"
    assert "Traceback" in caplog.text
    assert "failing_sign_in" in caplog.text
    assert "no_such_column" in caplog.text
    assert ADMIN_PASSWORD not in caplog.text
    assert ADMIN_EMAIL not in caplog.text
    app.extensions["relay.engine"].dispose()


def test_a_request_body_beyond_the_limit_is_refused_before_any_view(client):
    huge = "x" * (7 * 1024 * 1024)
    response = client.post("/sign-in", data={"email": "a@relay.test", "password": huge})
    assert response.status_code == 413
    assert "Traceback" not in response.text
