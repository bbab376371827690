"""The dashboard's page and CSV (issue 11, item 3): every figure under 5 is "fewer than 5"
in the page's tables, its charts and the CSV, with nothing else giving it back; the filter
with its errors; a facilitator's own figures; the audited download."""

import csv
import io
import json
import random
import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Role
from relay.services import dashboard
from relay.services.dashboard import FEWER
from tests.services.test_dashboard import TODAY
from tests.services.test_dashboard import YEAR
from tests.services.test_dashboard import add_cases
from tests.services.test_dashboard import add_referrals
from tests.services.test_dashboard import add_survey
from tests.services.test_dashboard import other_facilitator

SVG = "{http://www.w3.org/2000/svg}"


def _seed(session, world, seed: int) -> None:
    """A service's year with many small counts and a few large ones."""
    rng = random.Random(seed)
    me = world.facilitator.id

    def some() -> int:
        return rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 14])

    sources = ("police", "probation", "prison", "youth_offending_team", "self")
    for status in ("referred", "offered", "not_contacted"):
        add_referrals(session, me, some(), source=rng.choice(sources), status=status)
    for reason in ("not_ready", "feels_unsafe", "no_reason_given", "other_support"):
        add_referrals(
            session, me, some(), source=rng.choice(sources), status="declined", reason=reason
        )
    took_part = add_cases(session, me, some() + 1, prefix="R")
    add_referrals(
        session, me, len(took_part), status="took_part", case_ids=[c.id for c in took_part]
    )
    for state in ("preparing", "active"):
        add_cases(session, me, some(), state=state, prefix=state)
    for outcome in ("completed", "withdrawn_by_victim", "ended_by_facilitator"):
        add_cases(session, me, some(), state="closed", outcome=outcome, prefix=outcome)
    for answers in ({"satisfied": "yes"}, {"satisfied": "no", "felt_safe": "partly"}, {}):
        for role in (Role.VICTIM, Role.OFFENDER):
            add_survey(session, world.case, role, some(), **answers)


def _cells(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-cell="([^"]+)">([^<]*)<', page))


def _charts(page: str) -> dict[str, ElementTree.Element]:
    found = {}
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        root = ElementTree.fromstring(svg)  # noqa: S314 (the page under test)
        found[root.get("id").removeprefix("chart-")] = root
    return found


def test_no_figure_under_5_shows_in_the_page_its_charts_or_the_csv(session, world, client, auth):
    """Every figure, walked by its key: under 5 it is "fewer than 5" in the table and the
    CSV and is not drawn; every figure shows exactly what suppression decided."""
    _seed(session, world, 11)
    raw = dashboard.figures(session, world.administrator, YEAR)
    board = dashboard.suppress(raw)
    small = [key for key, value in raw.counts.items() if 0 < value < 5]
    assert len(small) >= 10  # the walk has plenty to prove

    auth.sign_in("administrator")
    page = client.get("/dashboard/").text
    cells = _cells(page)
    # Every count is on the page (an outcome of "not recorded" only when there is one).
    assert set(raw.counts) - set(cells) == {"cases.outcome.not_recorded"}
    for key, value in raw.counts.items():
        if key not in cells:
            continue
        assert cells[key] == board.cell(key).text, key
        if 0 < value < 5:
            assert cells[key] == FEWER, key
    charts = _charts(page)
    assert set(charts) == {table.key for table in raw.tables if table.chart}
    for table in (table for table in raw.tables if table.chart):
        drawn = [d.text for d in charts[table.key].iter(f"{SVG}desc") if d.get("class") == "value"]
        expected = [
            f"{board.cell(row.cells[i]).value:g}"
            for i in range(len(table.columns))
            for row in table.rows
            if board.cell(row.cells[i]).value is not None
        ]
        assert sorted(drawn) == sorted(expected), table.key
    # Nothing the content security policy would refuse, or that a style could show.
    assert "<style" not in page and " style=" not in page and "<script>" not in page

    exported = client.post(
        "/dashboard/export", data={"start": YEAR.start.isoformat(), "end": YEAR.end.isoformat()}
    )
    rows = list(csv.reader(io.StringIO(exported.text)))
    written = {(row[0], row[2], row[3]): row[4] for row in rows[1:]}
    for table in raw.tables:
        for row in (*table.rows, *([table.total] if table.total else [])):
            for column, key in zip(table.columns, row.cells, strict=True):
                value = raw.counts[key]
                assert written[(table.key, row.label, column)] == board.cell(key).text
                if 0 < value < 5:
                    assert written[(table.key, row.label, column)] == FEWER


def test_a_total_never_gives_back_a_hidden_figure_on_the_page(session, world, client, auth):
    _seed(session, world, 12)
    raw = dashboard.figures(session, world.administrator, YEAR)
    auth.sign_in("administrator")
    cells = _cells(client.get("/dashboard/").text)
    for group in raw.sums:
        shown = [cells[cell] for cell in (group.total, *group.parts)]
        hidden = [text for text in shown if not text.replace(",", "").isdigit()]
        assert len(hidden) != 1, group


def test_the_filter_says_what_is_wrong_next_to_the_field_and_keeps_what_was_typed(
    world, client, auth
):
    auth.sign_in("administrator")
    response = client.get("/dashboard/?start=2026-02-30&end=2026-03-01&offence=theft")
    assert response.status_code == 400
    page = response.text
    assert "There is a problem" in page and 'href="#start"' in page
    assert 'id="start-error"' in page and "Enter a real date" in page
    assert 'value="2026-02-30"' in page and '<option selected value="theft">' in page
    assert "data-cell=" not in page

    page = client.get("/dashboard/?start=2026-03-02&end=2026-03-01").text
    assert 'id="end-error"' in page and "same as or after" in page
    assert 'value="2026-03-02"' in page and 'value="2026-03-01"' in page


def test_the_page_shows_the_last_12_months_by_default_and_narrows_by_kind(
    session, world, client, auth
):
    add_referrals(session, world.facilitator.id, 7, offence="fraud")
    add_referrals(session, world.facilitator.id, 6, offence="theft")
    add_referrals(session, world.facilitator.id, 9, received_on=TODAY - timedelta(days=380))
    auth.sign_in("administrator")
    page = client.get("/dashboard/").text
    assert f'value="{YEAR.start.isoformat()}"' in page and f'value="{TODAY.isoformat()}"' in page
    assert _cells(page)["referrals.total"] == "13"
    page = client.get("/dashboard/?offence=fraud").text
    assert _cells(page)["referrals.total"] == "7"
    assert "Dashboard</a>" in page  # in the staff navigation


def test_a_facilitator_sees_only_their_own_figures(session, settings, world, client, auth):
    someone_else = other_facilitator(session, settings, world)
    add_cases(session, someone_else.id, 8)
    add_cases(session, world.facilitator.id, 6)
    auth.sign_in("facilitator")
    page = client.get("/dashboard/").text
    assert _cells(page)["cases.total"] == "7"  # the world's case and their six
    assert "the cases you are a facilitator of" in page


def test_the_csv_is_an_audited_attachment_never_cached(session, world, client, auth):
    auth.sign_in("administrator")
    response = client.post(
        "/dashboard/export",
        data={"start": "2026-01-01", "end": "2026-06-30", "offence": "robbery"},
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="relay-dashboard-2026-01-01-to-2026-06-30.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.text.splitlines()[0] == ",".join(dashboard.CSV_HEADINGS)
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "dashboard.exported")
    ).one()
    assert json.loads(entry.details) == {
        "start": "2026-01-01",
        "end": "2026-06-30",
        "offence_category": "robbery",
    }
    assert entry.case_id is None
    refused = client.post("/dashboard/export", data={"start": "2026-07-01", "end": "2026-06-30"})
    assert refused.status_code == 400
    assert session.scalars(
        select(AuditEntry).where(AuditEntry.action == "dashboard.exported")
    ).all() == [entry]


def test_not_yet_offered_cannot_be_worked_out_from_the_totals_on_the_page_or_the_csv(
    session, world, client, auth
):
    """The reviewer's example: 2 not yet offered, 6 offered, 7 declined, 10 took part and 10
    not contacted. The total (35) less those offered (23) less those not contacted (10)
    would be the 2: the three are a group that adds up, and suppressed as one."""
    me = world.facilitator.id
    add_referrals(session, me, 2, status="referred")
    add_referrals(session, me, 6, status="offered")
    add_referrals(session, me, 7, status="declined", reason="not_ready")
    add_referrals(session, me, 10, status="not_contacted")
    cases = add_cases(session, me, 10, prefix="R")
    add_referrals(session, me, 10, status="took_part", case_ids=[c.id for c in cases])
    auth.sign_in("administrator")
    cells = _cells(client.get("/dashboard/").text)
    assert cells["referrals.status.referred"] == FEWER
    group = ("referrals.total", "referrals.offered_total", "referrals.status.not_contacted")
    assert not all(cells[key].isdigit() for key in group), {key: cells[key] for key in group}
    exported = client.post(
        "/dashboard/export", data={"start": YEAR.start.isoformat(), "end": YEAR.end.isoformat()}
    )
    rows = list(csv.reader(io.StringIO(exported.text)))
    offered = [row[4] for row in rows if row[1] == dashboard.OFFERED_LABEL]
    assert offered == [cells["referrals.offered_total"]]


@pytest.mark.parametrize(
    ("start", "end", "wrong"),
    [
        ("2026-01-01", "9999-12-31", "end"),
        ("0001-01-01", "2026-01-01", "start"),
        ("1999-12-31", "2026-01-01", "start"),
    ],
)
def test_a_date_outside_the_window_is_refused_next_to_its_field(
    world, client, auth, start, end, wrong
):
    """A day far off would overflow the day after it (a 500) and make the database walk
    every row there is: refused, said beside the field, what was typed kept."""
    auth.sign_in("administrator")
    for response in (
        client.get(f"/dashboard/?start={start}&end={end}"),
        client.post("/dashboard/export", data={"start": start, "end": end}),
    ):
        assert response.status_code == 400
        page = response.text
        assert f'id="{wrong}-error"' in page and "1 January 2000" in page
        assert f'href="#{wrong}"' in page
        assert f'value="{start}"' in page and f'value="{end}"' in page
        assert "data-cell=" not in page
