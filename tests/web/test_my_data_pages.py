"""A person's own data on the pages (issue 11, item 5): a party downloads one zip, the page
to print and the same data as JSON, made on request and never stored; an administrator
produces the same for a party of a case once they have added themselves to it."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Role
from relay.models import utcnow
from relay.services import access
from relay.services import letters
from tests.conftest import PEOPLE
from tests.conftest import receive_letters
from tests.factories import approve_as_reviewed
from tests.paper import HARMED
from tests.paper import paper_case
from tests.paper import pat_signed_in
from tests.paper import started
from tests.paper import typed_from_paper

HOSTILE = "Dear Jo, <script>alert('x')</script> & <b>bold</b>"


@pytest.fixture
def delivered(session, settings, world):
    """A letter from the offender, with markup in it, delivered to the victim and opened."""
    receive_letters(session, settings, world.victim, world.case.id)
    letter = letters.send_letter(session, settings, world.offender, world.case.id, None, HOSTILE)
    approve_as_reviewed(session, settings, world.facilitator, letter.id)
    letters.open_letter(session, settings, world.victim, letter.id)
    return world


def _unzipped(response) -> tuple[str, dict]:
    assert response.status_code == 200, response.text
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        page = archive.read("relay-my-data.html").decode()
        data = json.loads(archive.read("relay-my-data.json"))
    return page, data


def test_a_party_downloads_their_data_with_the_letter_escaped(client, auth, session, delivered):
    auth.sign_in("victim")
    home = client.get("/my/")
    assert 'href="/my/data"' in home.text
    page = client.get("/my/data")
    assert page.status_code == 200
    assert "<h1>Download everything Relay holds about you</h1>" in page.text
    html, data = _unzipped(client.post("/my/data"))
    (received,) = data["cases"][0]["letters_to_you"]
    assert received["text"] == HOSTILE
    assert data["account"]["email"] == PEOPLE["victim"][0]
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert PEOPLE["victim"][0] in html and "A letter from Chris" in html
    for secret in (PEOPLE["offender"][1], PEOPLE["offender"][0], delivered.case.reference):
        assert secret not in html and secret not in json.dumps(data)
    session.expire_all()
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "account.data_exported")
    ).one()
    assert entry.actor_id == delivered.victim.id
    assert "Dear Jo" not in entry.details


def test_the_file_is_kept_nowhere(client, auth, delivered, database_url, tmp_path):
    auth.sign_in("victim")
    before = sorted(tmp_path.rglob("*"))
    _page, data = _unzipped(client.post("/my/data"))
    assert sorted(tmp_path.rglob("*")) == before  # no file beside the database
    if database_url.startswith("sqlite"):
        stored = Path(database_url.removeprefix("sqlite:///")).read_bytes()
        assert b"relay-my-data" not in stored
        assert data["generated_at"].encode() not in stored


@pytest.mark.parametrize("role", ["facilitator", "administrator"])
def test_staff_have_no_download_of_their_own(client, auth, world, role):
    auth.sign_in(role)
    assert client.get("/my/data").status_code == 404
    assert client.post("/my/data").status_code == 404


def test_without_its_token_the_download_is_refused(app, client, auth, world):
    auth.sign_in("victim")
    app.config["WTF_CSRF_ENABLED"] = True
    refused = client.post("/my/data")
    assert refused.status_code == 400 and "CSRF" in refused.text


@pytest.fixture
def lee(session, settings, world):
    """Lee on paper: a letter typed from his paper, and Pat's letter to him posted."""
    case_id, lee_id = paper_case(session, settings, world.facilitator)
    started(session, world.facilitator, case_id)
    typed_from_paper(session, settings, world.facilitator, case_id, Role.OFFENDER, "From <Lee>.")
    pat = pat_signed_in(session, settings)
    to_lee = letters.send_letter(session, settings, pat, case_id, None, "Pat writes to Lee.")
    approve_as_reviewed(session, settings, world.facilitator, to_lee.id)
    letters.deliver_on_paper(
        session, world.facilitator, to_lee.id, how="posted", on=utcnow().date()
    )
    return case_id, lee_id


def test_an_administrator_joins_then_produces_the_file(client, auth, session, world, lee):
    case_id, lee_id = lee
    auth.sign_in("administrator")
    url = f"/admin/cases/{case_id}/personal-data/offender"
    page = client.get(url)
    assert page.status_code == 200
    assert "add yourself to the case" in page.text
    assert f'href="/cases/{case_id}"' in page.text
    assert client.post(url).status_code == 403  # not before they can open its letters
    access.join_case(session, world.administrator, case_id)
    page = client.get(url)
    assert "Lee" in page.text and "Produce the file" in page.text
    html, data = _unzipped(client.post(url))
    case = data["cases"][0]
    assert case["your_name_in_the_case"] == "Lee" and case["on_paper"] is True
    assert case["letters_you_wrote"][0]["versions"][0]["text"] == "From <Lee>."
    assert case["letters_to_you"][0]["text"] == "Pat writes to Lee."
    assert "From &lt;Lee&gt;." in html
    for secret in (HARMED[0], HARMED[1], "RJ-PAPER"):
        assert secret not in html and secret not in json.dumps(data)
    session.expire_all()
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "case.personal_data_exported")
    ).one()
    assert (entry.actor_id, entry.case_id) == (world.administrator.id, case_id)
    assert json.loads(entry.details) == {"participant": lee_id}


@pytest.mark.parametrize("role", ["victim", "offender", "facilitator"])
def test_nobody_else_produces_a_file_for_a_party(client, auth, world, lee, role):
    case_id, _lee_id = lee
    auth.sign_in(role)
    url = f"/admin/cases/{case_id}/personal-data/offender"
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404


def test_a_party_not_in_the_case_is_not_found(client, auth, session, world):
    auth.sign_in("administrator")
    assert client.get("/admin/cases/999/personal-data/offender").status_code == 404
    assert client.get(f"/admin/cases/{world.case.id}/personal-data/facilitator").status_code == 404


def test_the_case_page_links_each_party_to_their_file_for_an_administrator_only(
    client, auth, world
):
    link = f'href="/admin/cases/{world.case.id}/personal-data/victim"'
    auth.sign_in("facilitator")
    assert link not in client.get(f"/cases/{world.case.id}").text
    auth.sign_out()
    auth.sign_in("administrator")
    page = client.get(f"/cases/{world.case.id}").text
    assert link in page
    assert f'href="/admin/cases/{world.case.id}/personal-data/offender"' in page
