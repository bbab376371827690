"""CSRF on every POST route and security headers on every page, both from the URL map."""

import pytest

from relay.models import CaseState
from tests.functional.test_authorisation import MATRIX
from tests.functional.test_authorisation import ROLES
from tests.functional.test_authorisation import _sign_in
from tests.functional.test_authorisation import _url
from tests.functional.test_authorisation import two_cases  # noqa: F401 - a fixture

# The browser sends CSP reports without a token: the one POST that changes nothing.
POST_ROUTES = sorted(
    cell[0] for cell in MATRIX if cell[1] == "POST" and cell[0] != "auth.csp_report"
)
GET_ROUTES = sorted(cell[0] for cell in MATRIX if cell[1] == "GET")


@pytest.mark.parametrize("role", ["anonymous", "victim", "facilitator"])
def test_every_post_without_a_csrf_token_is_refused(app, client, two_cases, session, role):  # noqa: F811
    case_a, _case_b = two_cases
    _sign_in(client, role)  # signs in while CSRF is still off in the test config
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


def test_every_page_sends_the_security_headers(app, client, two_cases):  # noqa: F811
    case_a, _case_b = two_cases
    missing = []
    for role in ROLES:
        client.post("/sign-out")
        _sign_in(client, role)
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


def test_csp_reports_are_counted_without_their_urls(app, client):
    report = {
        "csp-report": {
            "violated-directive": "script-src-elem",
            "blocked-uri": "https://evil.example/steal?name=Jo",
        }
    }
    assert client.post("/csp-report", json=report).status_code == 204
    assert app.extensions["relay.csp_violations"] == ["script-src-elem"]


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
