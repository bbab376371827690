"""The administrator's page of closed cases the retention run will shred in the next 30
days (issue 11, item 4)."""

from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta

from sqlalchemy import update

from relay.models import Case
from relay.models import CaseState
from relay.models import utcnow
from relay.services import cases
from relay.services import retention
from tests.factories import OTHER
from tests.factories import actor_for
from tests.web.test_constant_sql import _statements_for


def _closed_on(session, case_id: int, day) -> None:
    # Tampering on purpose: closed years ago without waiting years.
    when = datetime.combine(day, time(12, 0), tzinfo=UTC)
    session.execute(update(Case).where(Case.id == case_id).values(closed_at=when))
    session.commit()


def test_the_administrator_sees_what_falls_due_in_the_next_30_days(
    client, auth, session, settings, world, two_cases
):
    case_a, case_b = two_cases
    today = utcnow().date()
    cases.close_case(session, world.facilitator, case_a.case_id, "completed")
    other = actor_for(session, settings, *OTHER["other_facilitator"][::2])
    cases.close_case(session, other, case_b.case_id, "completed")
    # A falls due in ten days; B closed only a year ago.
    closed_a = retention.last_closing_due_by(today + timedelta(days=10), 2)
    _closed_on(session, case_a.case_id, closed_a)
    _closed_on(session, case_b.case_id, today - timedelta(days=365))
    reference_a = session.get(Case, case_a.case_id).reference
    reference_b = session.get(Case, case_b.case_id).reference

    auth.sign_in("administrator")
    home = client.get("/admin/").text
    assert 'href="/admin/retention"' in home
    page = client.get("/admin/retention")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Cases due for shredding</h1>" in text
    assert "2 years after" in text
    listed = text[text.index('id="due"') :]
    listed = listed[: listed.index("</table>")]
    assert reference_a in listed and reference_b not in listed
    assert closed_a.strftime("%d %B %Y") in listed
    assert retention.falls_due(closed_a, 2).strftime("%d %B %Y") in listed
    # Metadata only: nothing anyone wrote.
    assert "In review." not in text and "To the victim." not in text


def test_a_case_past_its_day_is_marked_for_the_next_run(
    client, auth, session, settings, world, two_cases
):
    case_a, _case_b = two_cases
    cases.close_case(session, world.facilitator, case_a.case_id, "completed")
    _closed_on(session, case_a.case_id, utcnow().date() - timedelta(days=3 * 365))
    auth.sign_in("administrator")
    text = client.get("/admin/retention").text
    row = text[text.index(session.get(Case, case_a.case_id).reference) :]
    row = row[: row.index("</tr>")]
    assert "Overdue" in row


def test_nothing_due_says_so(client, auth, world):
    auth.sign_in("administrator")
    text = client.get("/admin/retention").text
    assert "No closed case falls due for shredding in the next 30 days" in text
    assert 'id="due"' not in text


def test_only_an_administrator_sees_the_page(client, auth, session, settings, world):
    cases.close_case(session, world.facilitator, world.case.id, "completed")
    _closed_on(session, world.case.id, utcnow().date() - timedelta(days=3 * 365))
    for role in ("facilitator", "victim", "offender"):
        auth.sign_in(role)
        refused = client.get("/admin/retention")
        assert refused.status_code == 404, role
        assert world.case.reference not in refused.text
        auth.sign_out()
    anonymous = client.get("/admin/retention")
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.headers["Location"]


def _closed_long_ago(session, created_by_id: int, count: int, start: int) -> None:
    """`count` cases closed three years ago, in bulk (as tests/bulk.py builds caseloads)."""
    when = datetime.combine(utcnow().date() - timedelta(days=3 * 365), time(9), tzinfo=UTC)
    session.add_all(
        Case(
            reference=f"OLD-{index:03d}",
            offence_category="theft",
            state=CaseState.CLOSED,
            created_by_id=created_by_id,
            closed_at=when + timedelta(minutes=index),
        )
        for index in range(start, start + count)
    )
    session.commit()


def test_the_page_asks_the_same_however_many_are_due_and_shows_25_at_a_time(
    app, client, auth, session, world
):
    auth.sign_in("administrator")
    _closed_long_ago(session, world.facilitator.id, 3, 0)
    client.get("/admin/retention")  # the first request warms what every request reuses
    few = _statements_for(app, client, "/admin/retention")
    _closed_long_ago(session, world.facilitator.id, 57, 3)
    many = _statements_for(app, client, "/admin/retention")
    assert many == few
    first = client.get("/admin/retention").text
    assert "60 closed cases fall due in the next 30 days" in first
    assert "OLD-000" in first and "OLD-024" in first and "OLD-025" not in first
    third = client.get("/admin/retention?page=3").text
    assert "OLD-050" in third and "OLD-059" in third and "OLD-049" not in third
