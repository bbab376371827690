"""Referrals on the facilitators' pages (issue 11, item 1): recorded with no names and no
free text, the offer and its outcome, the case opened when the person harmed agrees, and
the list: newest first, 25 a page, narrowed by status."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select

from relay.models import Case
from relay.models import Referral
from relay.models import ReferralStatus
from relay.models import utcnow
from relay.services import invitations
from relay.services import referrals
from tests.factories import OTHER
from tests.web.test_letter_exchange import _assert_nowhere_in_the_database

TODAY = utcnow().date()


def _record(session, facilitator, days_ago=2, source="probation", offence="robbery"):
    return referrals.record_referral(
        session,
        facilitator,
        received_on=TODAY - timedelta(days=days_ago),
        source=source,
        offence_category=offence,
        today=TODAY,
    )


def _checked(page: str, name: str) -> list[str]:
    """The values of the radios named `name` that the page shows chosen."""
    return re.findall(rf'<input checked[^>]*name="{name}"[^>]*value="([^"]+)"', page) or [
        value
        for value in re.findall(rf'<input[^>]*name="{name}"[^>]*value="([^"]+)"[^>]*checked', page)
    ]


def test_a_facilitator_records_a_referral_from_the_pages(client, auth, session, world):
    auth.sign_in("facilitator")
    home = client.get("/cases/").text
    assert 'href="/cases/referrals"' in home
    form = client.get("/cases/referrals/new").text
    assert "<h1>Record a referral</h1>" in form
    assert "Youth offending team" in form and "Criminal damage or arson" in form

    response = client.post(
        "/cases/referrals/new",
        data={
            "received_on": (TODAY - timedelta(days=5)).isoformat(),
            "source": "youth_offending_team",
            "offence_category": "criminal_damage",
        },
    )

    assert response.status_code == 302
    referral = session.scalars(select(Referral)).one()
    assert response.headers["Location"] == f"/cases/referrals/{referral.id}"
    assert referral.recorded_by_id == world.facilitator.id
    page = client.get(response.headers["Location"]).text
    assert "Referral recorded" in page
    assert "Youth offending team" in page and "Criminal damage or arson" in page
    assert "Not yet offered" in page
    assert "Open a case for this referral" in page


def test_a_referral_with_mistakes_shows_each_and_keeps_what_was_chosen(
    client, auth, session, world
):
    auth.sign_in("facilitator")
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    page = client.post(
        "/cases/referrals/new", data={"received_on": "31/02/2026", "source": "police"}
    ).text
    assert "There is a problem" in page
    assert '<a href="#received_on">Enter a real date, for example 2027-03-31</a>' in page
    assert '<a href="#offence_category-0">Choose the kind of offence</a>' in page
    assert _checked(page, "source") == ["police"]
    assert 'value="31/02/2026"' in page

    page = client.post(
        "/cases/referrals/new",
        data={"received_on": tomorrow, "source": "self", "offence_category": "fraud"},
    ).text
    assert '<a href="#received_on">The day the referral came must be today or before</a>' in page
    assert _checked(page, "source") == ["self"] and _checked(page, "offence_category") == ["fraud"]
    assert f'value="{tomorrow}"' in page
    assert session.scalar(select(func.count()).select_from(Referral)) == 0


def test_no_referral_page_takes_free_text(client, auth, app, session, world):
    auth.sign_in("facilitator")
    referral = _record(session, world.facilitator)
    for url in ("/cases/referrals/new", f"/cases/referrals/{referral.id}"):
        page = client.get(url).text
        inputs = re.findall(r"<(input|textarea)\b([^>]*)>", page)
        kinds = {
            re.search(r'type="([^"]+)"', attrs).group(1) if "type=" in attrs else tag
            for tag, attrs in inputs
        }
        assert kinds <= {"radio", "date", "hidden"}, (url, kinds)
    # Anything typed into a made-up field is dropped, never kept.
    client.post(
        "/cases/referrals/new",
        data={
            "received_on": TODAY.isoformat(),
            "source": "police",
            "offence_category": "theft",
            "name": "Bartholomew Quince",
            "notes": "Lives at 14 Hawthorn Lane",
        },
    )
    client.post(
        f"/cases/referrals/{referral.id}",
        data={"status": "offered", "comment": "Bartholomew Quince was upset"},
    )
    assert session.scalar(select(func.count()).select_from(Referral)) == 2
    _assert_nowhere_in_the_database(app, session, ["Bartholomew Quince", "Hawthorn Lane"])


def test_a_decline_needs_its_reason_on_the_page(client, auth, session, world):
    auth.sign_in("facilitator")
    referral = _record(session, world.facilitator)
    url = f"/cases/referrals/{referral.id}"

    page = client.post(url, data={"status": "declined"}).text
    assert '<a href="#decline_reason-0">Choose why they declined</a>' in page
    assert _checked(page, "status") == ["declined"]

    response = client.post(url, data={"status": "declined", "decline_reason": "feels_unsafe"})
    assert response.status_code == 302
    page = client.get(url).text
    assert "Declined: worried about their safety or wellbeing" in page
    assert _checked(page, "status") == ["declined"]
    assert _checked(page, "decline_reason") == ["feels_unsafe"]
    session.expire_all()
    assert session.get(Referral, referral.id).status == ReferralStatus.DECLINED


def test_opening_a_case_from_a_referral_leads_to_the_case(client, auth, session, world):
    auth.sign_in("facilitator")
    referral = _record(session, world.facilitator, offence="hate_crime")
    url = f"/cases/referrals/{referral.id}/case"
    assert "The case’s kind of offence is the referral’s: hate crime" in client.get(url).text

    page = client.post(url, data={"reference": world.case.reference}).text
    assert '<a href="#reference">A case with this reference already exists</a>' in page
    assert f'value="{world.case.reference}"' in page

    response = client.post(url, data={"reference": "RJ-REF-1"})
    case = session.scalars(select(Case).where(Case.reference == "RJ-REF-1")).one()
    assert response.headers["Location"] == f"/cases/{case.id}"
    assert case.offence_category == "hate_crime" and case.offence_label == "Hate crime"
    page = client.get(f"/cases/referrals/{referral.id}").text
    assert f'<a href="/cases/{case.id}">case RJ-REF-1</a>' in page
    assert "Record what happened" not in page
    # Taken part is final: the page no longer offers a change, and a change is refused.
    assert (
        client.post(f"/cases/referrals/{referral.id}", data={"status": "offered"}).status_code
        == 409
    )
    assert client.post(url, data={"reference": "RJ-REF-2"}).status_code == 409
    assert client.get(url).headers["Location"] == f"/cases/referrals/{referral.id}"


def test_another_facilitator_sees_the_referral_but_not_which_case(
    app, client, auth, session, settings, world
):
    email, name, password = OTHER["other_facilitator"]
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    referral = _record(session, world.facilitator)
    referrals.open_case_from_referral(session, world.facilitator, referral.id, reference="RJ-Q")

    auth.sign_in_as(email, password)
    page = client.get(f"/cases/referrals/{referral.id}").text
    assert "a case was opened by another facilitator" in page
    assert "RJ-Q" not in page
    assert "RJ-Q" not in client.get("/cases/referrals").text


def test_the_list_is_newest_first_25_a_page_and_narrowed_by_status(client, auth, session, world):
    for days in range(27):
        _record(session, world.facilitator, days_ago=days + 1)
    oldest = session.scalars(select(Referral).order_by(Referral.received_on)).first()
    referrals.record_outcome(session, world.facilitator, oldest.id, status="not_contacted")
    auth.sign_in("facilitator")

    first = client.get("/cases/referrals").text
    assert first.count('href="/cases/referrals/') - first.count('href="/cases/referrals/new') == 25
    assert "27 referrals, newest first. Page 1 of 2." in first
    assert 'href="/cases/referrals?page=2"' in first
    newest = (TODAY - timedelta(days=1)).strftime("%-d %B %Y")
    assert first.index(newest) < first.index((TODAY - timedelta(days=2)).strftime("%-d %B %Y"))
    second = client.get("/cases/referrals?page=2").text
    assert f'href="/cases/referrals/{oldest.id}"' in second

    narrowed = client.get("/cases/referrals?status=not_contacted").text
    assert "1 referral found" in narrowed
    assert f'href="/cases/referrals/{oldest.id}"' in narrowed
    assert "Could not be contacted" in narrowed
    refused = client.get("/cases/referrals?status=lost").text
    assert "Choose a status from the list" in refused


@pytest.mark.parametrize(
    ("role", "status"), [("administrator", 403), ("victim", 404), ("offender", 404)]
)
def test_no_one_but_a_facilitator_reaches_a_referral(client, auth, session, world, role, status):
    referral = _record(session, world.facilitator)
    auth.sign_in(role)
    pages = [
        "/cases/referrals",
        "/cases/referrals/new",
        f"/cases/referrals/{referral.id}",
        f"/cases/referrals/{referral.id}/case",
    ]
    for url in pages:
        assert client.get(url).status_code == status, url
    assert (
        client.post(
            "/cases/referrals/new",
            data={
                "received_on": TODAY.isoformat(),
                "source": "police",
                "offence_category": "theft",
            },
        ).status_code
        == status
    )
    assert (
        client.post(f"/cases/referrals/{referral.id}", data={"status": "offered"}).status_code
        == status
    )
    assert (
        client.post(f"/cases/referrals/{referral.id}/case", data={"reference": "RJ-NO"}).status_code
        == status
    )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Referral)) == 1
    assert session.get(Referral, referral.id).status == ReferralStatus.REFERRED
    if role == "administrator":
        assert 'href="/cases/referrals"' not in client.get("/cases/").text


def test_the_list_asks_the_same_however_many_referrals(app, client, auth, session, world):
    from tests.web.test_constant_sql import _statements_for

    auth.sign_in("facilitator")
    for days in range(10):
        _record(session, world.facilitator, days_ago=days)
    client.get("/cases/referrals")  # the first request of a client warms what others reuse
    few = {
        path: _statements_for(app, client, path)
        for path in ("/cases/referrals", "/cases/referrals?status=referred&page=2")
    }
    for days in range(300):
        _record(session, world.facilitator, days_ago=days % 90)
    many = {path: _statements_for(app, client, path) for path in few}
    assert many == few
