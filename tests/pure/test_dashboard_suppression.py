"""Small-number suppression on the dashboard (issue 11, item 3), proved on the pure
function alone: every figure of many made-up dashboards, every group with a total.

Counts are made consistent, as the database's are (the parts add up to their totals),
mostly small, so that suppression has plenty to do."""

import random
from datetime import date
from xml.etree import ElementTree

import pytest

from relay.models import CaseOutcome
from relay.models import CaseState
from relay.models import DeclineReason
from relay.models import ReferralSource
from relay.models import ReferralStatus
from relay.services import dashboard
from relay.services.dashboard import ANSWERS
from relay.services.dashboard import FEWER
from relay.services.dashboard import LETTER_FIGURES
from relay.services.dashboard import NO_OUTCOME
from relay.services.dashboard import OFFERED
from relay.services.dashboard import QUESTIONS
from relay.services.dashboard import ROLES
from relay.services.dashboard import Figures
from relay.services.dashboard import Filter
from relay.services.dashboard import Timing

FILTER = Filter(date(2026, 1, 1), date(2026, 12, 31))


def _split(rng: random.Random, total: int, names) -> dict:
    """`total` shared out among `names` at random."""
    names = list(names)
    cuts = sorted(rng.randint(0, total) for _ in range(len(names) - 1))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    return dict(zip(names, sizes, strict=True))


def _small(rng: random.Random) -> int:
    return rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 7, 9, 12, 20, 40])


def made_up_counts(rng: random.Random) -> dict[str, int]:
    counts = {}
    for reason in DeclineReason:
        counts[f"referrals.declined.{reason.value}"] = _small(rng)
    declined = sum(counts[f"referrals.declined.{r.value}"] for r in DeclineReason)
    for status in ReferralStatus:
        counts[f"referrals.status.{status.value}"] = _small(rng)
    counts["referrals.status.declined"] = declined
    total = sum(counts[f"referrals.status.{s.value}"] for s in ReferralStatus)
    counts["referrals.total"] = total
    for source, size in _split(rng, total, ReferralSource).items():
        counts[f"referrals.source.{source.value}"] = size
    counts["referrals.offered_total"] = sum(counts[f"referrals.status.{s.value}"] for s in OFFERED)
    for outcome in [*CaseOutcome, NO_OUTCOME]:
        counts[f"cases.outcome.{outcome}"] = _small(rng) if outcome != NO_OUTCOME else 0
    for state in CaseState:
        counts[f"cases.state.{state.value}"] = _small(rng)
    counts["cases.state.closed"] = sum(
        counts[f"cases.outcome.{o}"] for o in [*CaseOutcome, NO_OUTCOME]
    )
    counts["cases.total"] = sum(counts[f"cases.state.{s.value}"] for s in CaseState)
    for name in LETTER_FIGURES:
        counts[f"letters.{name}"] = _small(rng)
    for role in ROLES:
        responses = _small(rng) * rng.choice([1, 2])
        counts[f"answers.{role.value}.total"] = responses
        for question in QUESTIONS:
            for answer, size in _split(rng, responses, ANSWERS).items():
                counts[f"answers.{question}.{role.value}.{answer}"] = size
    counts["answers.total"] = sum(counts[f"answers.{role.value}.total"] for role in ROLES)
    counts["times.review.count"] = _small(rng)
    counts["times.first_letter.count"] = _small(rng)
    return counts


def made_up_figures(seed: int) -> Figures:
    rng = random.Random(seed)
    counts = made_up_counts(rng)
    sums, tables, shares = dashboard._layout(counts)
    timings = tuple(
        Timing(
            key,
            key,
            f"{key}.count",
            tuple(rng.uniform(0, 30) for _ in range(counts[f"{key}.count"])),
        )
        for key in ("times.review", "times.first_letter")
    )
    return Figures(FILTER, counts, sums, tables, shares, timings)


SEEDS = range(400)


def test_the_made_up_counts_add_up_as_the_databases_do():
    for seed in SEEDS:
        figures = made_up_figures(seed)
        for group in figures.sums:
            parts = sum(figures.counts[part] for part in group.parts)
            assert figures.counts[group.total] == parts, (seed, group)


def test_no_count_under_5_is_shown_anywhere_on_any_dashboard():
    """Every figure: each count from 1 to 4 is "fewer than 5" in the cells (which the page
    and the chart read), in the CSV and in the chart's drawn values, and every share built
    on it is withheld."""
    for seed in SEEDS:
        figures = made_up_figures(seed)
        board = dashboard.suppress(figures)
        csv_values = {(row[0], row[2], row[3]): row[4] for row in dashboard.csv_rows(board)}
        for key, value in figures.counts.items():
            shown = board.cell(key)
            if 0 < value < 5:
                assert (shown.value, shown.text) == (None, FEWER), (seed, key)
            elif shown.value is not None:
                assert shown.value == value and shown.text == f"{value:,}"
        for table in figures.tables:
            for row in (*table.rows, *([table.total] if table.total else [])):
                for column, key in zip(table.columns, row.cells, strict=True):
                    assert csv_values[(table.key, row.label, column)] == board.cell(key).text
        for share in figures.shares:
            part, whole = figures.counts[share.part], figures.counts[share.whole]
            if 0 < part < 5 or 0 < whole < 5 or board.cell(share.part).value is None:
                assert board.shares[share.key].value is None, seed
        for timing in board.timings:
            if len(timing.timing.values) < 5:
                assert timing.median.value is None and timing.p90.value is None
                expected = FEWER if timing.timing.values else "none"
                assert timing.median.text == timing.p90.text == expected


def test_a_hidden_count_can_never_be_worked_out_by_subtraction():
    """In every group with a total, a hidden cell is never alone: the shown cells leave at
    least two unknowns, so no single one follows from the others."""
    for seed in SEEDS:
        figures = made_up_figures(seed)
        board = dashboard.suppress(figures)
        for group in figures.sums:
            cells = (group.total, *group.parts)
            hidden = [cell for cell in cells if board.cell(cell).value is None]
            assert len(hidden) != 1, (seed, group, hidden)
            if hidden:
                # Try the attack: total minus the shown parts is what the hidden parts hold.
                total = board.cell(group.total).value
                shown = sum(board.cell(p).value for p in group.parts if p not in hidden)
                hidden_parts = [p for p in group.parts if p in hidden]
                if total is not None:
                    assert len(hidden_parts) >= 2
                    assert total - shown == sum(figures.counts[p] for p in hidden_parts)


def test_the_issues_example_hides_the_next_smallest_part_too():
    counts = {"t": 20, "a": 17, "b": 3}
    hidden = dashboard._hidden_cells(counts, (dashboard.Sum("t", ("a", "b")),))
    assert hidden == {"b": dashboard.Hidden.SMALL, "a": dashboard.Hidden.SECONDARY}


def test_the_next_smallest_part_is_chosen_and_zeros_are_passed_over():
    counts = {"t": 30, "a": 0, "b": 3, "c": 6, "d": 21}
    hidden = dashboard._hidden_cells(counts, (dashboard.Sum("t", ("a", "b", "c", "d")),))
    assert set(hidden) == {"b", "c"}


def test_with_no_other_part_to_hide_the_total_is_withheld():
    counts = {"t": 3, "a": 3, "b": 0}
    assert set(dashboard._hidden_cells(counts, (dashboard.Sum("t", ("a", "b")),))) == {"t", "a"}
    counts = {"t": 9, "a": 3, "b": 0, "u": 9, "c": 9}
    sums = (dashboard.Sum("t", ("a", "b")), dashboard.Sum("u", ("t", "c")))
    # "t" is 9 but "a" (3) is all of it: hiding "a" alone shows it as t - b.
    hidden = dashboard._hidden_cells(counts, sums)
    assert {"a", "t"} <= set(hidden)
    assert sum(cell in hidden for cell in ("u", "t", "c")) >= 2


def test_a_withheld_decline_count_hides_a_reason_too():
    """Declines are a part of the statuses and the total of the reasons: withheld in one,
    the other group must not give it back."""
    rng = random.Random(1)
    counts = made_up_counts(rng)
    for key in list(counts):
        if key.startswith("referrals."):
            counts[key] = 0
    counts |= {
        "referrals.status.referred": 3,
        "referrals.status.declined": 6,
        "referrals.declined.not_ready": 6,
        "referrals.status.offered": 30,
        "referrals.total": 39,
        "referrals.offered_total": 36,
        "referrals.source.police": 39,
    }
    sums, tables, shares = dashboard._layout(counts)
    board = dashboard.suppress(Figures(FILTER, counts, sums, tables, shares, ()))
    assert board.cell("referrals.status.referred").text == FEWER
    assert board.cell("referrals.status.declined").text == dashboard.WITHHELD
    # Its one reason was 6: shown beside a withheld total of one part it would give it.
    assert board.cell("referrals.declined.not_ready").value is None
    # Offered in total (36) less those waiting (30) and those who took part (0) would be
    # the declines: one more of its parts is withheld.
    assert board.cell("referrals.status.offered").value is None
    # The share, 0 of 36, gives nothing, but is withheld with its denominator.
    offered_hidden = board.cell("referrals.offered_total").value is None
    assert board.shares["referrals.took_part_share"].text == (
        "withheld" if offered_hidden else "0%"
    )


def test_zero_is_shown_as_zero_and_a_share_of_nobody_is_not_a_number():
    counts = made_up_counts(random.Random(2))
    counts = dict.fromkeys(counts, 0)
    sums, tables, shares = dashboard._layout(counts)
    board = dashboard.suppress(Figures(FILTER, counts, sums, tables, shares, ()))
    assert {cell.text for cell in board.cells.values()} == {"0"}
    assert board.shares["referrals.took_part_share"].value is None


@pytest.mark.parametrize(
    ("values", "median", "p90"), [((1, 2, 3, 4), None, None), ((1, 2, 3, 4, 10), 3, 7.6)]
)
def test_times_over_fewer_than_5_are_withheld(values, median, p90):
    counts = {"n": len(values)}
    figures = Figures(FILTER, counts, (), (), (), (Timing("t", "t", "n", values),))
    shown = dashboard.suppress(figures).timings[0]
    assert shown.median.value == median and shown.p90.value == p90
    assert shown.count.text == (FEWER if len(values) < 5 else "5")


def test_a_chart_draws_only_the_figures_shown_and_has_a_title():
    for seed in range(20):
        figures = made_up_figures(seed)
        board = dashboard.suppress(figures)
        for table in figures.tables:
            svg = ElementTree.fromstring(str(dashboard.chart_svg(board, table)))  # noqa: S314
            ns = {"s": "http://www.w3.org/2000/svg"}
            title = svg.find("s:title", ns)
            assert title.text == table.title
            assert svg.get("aria-labelledby") == title.get("id") and svg.get("role") == "img"
            assert svg.findall(".//s:script", ns) == svg.findall(".//s:style", ns) == []
            assert all("style" not in element.attrib for element in svg.iter())
            drawn = [
                d.text
                for d in svg.iter("{http://www.w3.org/2000/svg}desc")
                if d.get("class") == "value"
            ]
            expected = [
                f"{board.cell(row.cells[i]).value:g}"
                for i in range(len(table.columns))
                for row in table.rows
                if board.cell(row.cells[i]).value is not None
            ]
            assert sorted(drawn) == sorted(expected), (seed, table.key)
