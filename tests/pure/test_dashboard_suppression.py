"""Small-number suppression on the dashboard (issue 11, item 3), proved on the pure
function alone: every figure of many made-up dashboards, every group with a total.

Counts are made consistent, as the database's are (the parts add up to their totals),
mostly small, so that suppression has plenty to do."""

import math
import random
from datetime import date
from fractions import Fraction
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
from relay.services.dashboard import LETTER_PARTS
from relay.services.dashboard import NO_OUTCOME
from relay.services.dashboard import OFFERED
from relay.services.dashboard import QUESTIONS
from relay.services.dashboard import ROLES
from relay.services.dashboard import WITHHELD
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
    for name in LETTER_PARTS:
        counts[f"letters.{name}"] = _small(rng)
    counts["letters.written"] = sum(counts[f"letters.{name}"] for name in LETTER_PARTS)
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
    """Every figure: each count from 1 to 4 is "fewer than 5" (or "withheld") in the cells
    (which the page and the chart read), in the CSV and in the chart's drawn values, and
    every share built on it is withheld."""
    for seed in SEEDS:
        figures = made_up_figures(seed)
        board = dashboard.suppress(figures)
        csv_values = {(row[0], row[2], row[3]): row[4] for row in dashboard.csv_rows(board)}
        for key, value in figures.counts.items():
            shown = board.cell(key)
            if 0 < value < 5:
                # "withheld" only where "fewer than 5" would say too much: four answers
                # of "fewer than 5" making up 4 are 1 each.
                assert (shown.value, shown.text) in ((None, FEWER), (None, WITHHELD)), seed
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


# --- attacks, written apart from the module's own check (the security review's) ---------


def interval_attack(board, sums) -> dict[str, int]:
    """Someone who reads the page: a shown figure is itself, "fewer than 5" 1 to 4,
    "withheld" anything from 0; each group's total is its parts' sum. The hidden figures
    whose range comes down to one value."""
    lo, hi = {}, {}
    for key, shown in board.cells.items():
        if shown.value is not None:
            lo[key] = hi[key] = shown.value
        elif shown.text == FEWER:
            lo[key], hi[key] = 1, 4
        else:
            assert shown.text == WITHHELD
            lo[key], hi[key] = 0, math.inf
    changed = True
    while changed:
        changed = False
        for group in sums:
            total, parts = group.total, group.parts
            low, high = sum(lo[p] for p in parts), sum(hi[p] for p in parts)
            if low > lo[total]:
                lo[total], changed = low, True
            if high < hi[total]:
                hi[total], changed = high, True
            for part in parts:
                others = [q for q in parts if q != part]
                least = lo[total] - sum(hi[q] for q in others)
                most = hi[total] - sum(lo[q] for q in others)
                if least > lo[part]:
                    lo[part], changed = least, True
                if most < hi[part]:
                    hi[part], changed = most, True
    return {
        key: lo[key]
        for key, shown in board.cells.items()
        if shown.value is None and lo[key] == hi[key]
    }


def exact_attack(board, sums) -> dict[str, Fraction]:
    """Subtraction alone: every group an equation, shown figures constants, hidden ones
    unknowns, reduced exactly; a hidden figure the equations fix by itself."""
    hidden = sorted(key for key, shown in board.cells.items() if shown.value is None)
    index = {key: i for i, key in enumerate(hidden)}
    rows = []
    for group in sums:
        row = [Fraction(0)] * (len(hidden) + 1)
        for key, sign in [(group.total, 1)] + [(p, -1) for p in group.parts]:
            if key in index:
                row[index[key]] += sign
            else:
                row[-1] -= sign * board.cells[key].value
        if any(row[:-1]):
            rows.append(row)
    r, pivots = 0, []
    for c in range(len(hidden)):
        p = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if p is None:
            continue
        rows[r], rows[p] = rows[p], rows[r]
        rows[r] = [x / rows[r][c] for x in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c] != 0:
                f = rows[i][c]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[r], strict=True)]
        pivots.append((r, c))
        r += 1
    return {
        hidden[c]: rows[r][-1]
        for r, c in pivots
        if all(rows[r][j] == 0 for j in range(len(hidden)) if j != c)
    }


def _worked_out(figures) -> dict[str, object]:
    """Hidden figures either attack gives back, other than zeros (which describe nobody,
    and are shown as 0 elsewhere)."""
    board = dashboard.suppress(figures)
    found = {**exact_attack(board, figures.sums), **interval_attack(board, figures.sums)}
    for key, value in found.items():
        assert value == figures.counts[key], key  # an attack is never wrong
    return {key: value for key, value in found.items() if value}


def test_no_hidden_figure_on_any_made_up_dashboard_can_be_worked_out():
    """Before the interval check, the two attacks found a hidden figure on 143 to 228 of
    these 400 dashboards."""
    found = {seed: _worked_out(made_up_figures(seed)) for seed in SEEDS}
    assert {seed: got for seed, got in found.items() if got} == {}


def _zeros_but(**figures: int) -> Figures:
    counts = dict.fromkeys(made_up_counts(random.Random(0)), 0) | figures
    sums, tables, shares = dashboard._layout(counts)
    return Figures(FILTER, counts, sums, tables, shares, ())


def test_two_fewer_than_5_in_a_total_of_7_with_5_beside_them_are_not_both_1():
    """The reviewer's survey example: 7 answered; yes 5, partly and no "fewer than 5",
    no answer 0. Two answers from 1 to 4 making 2 are 1 each."""
    answers = {
        f"answers.{q}.victim.{a}": n
        for q in QUESTIONS
        for a, n in {"yes": 5, "partly": 1, "no": 1}.items()
    }
    figures = _zeros_but(**{"answers.victim.total": 7, "answers.total": 7, **answers})
    assert _worked_out(figures) == {}
    board = dashboard.suppress(figures)
    assert board.cell("answers.satisfied.victim.partly").text == FEWER


def test_approved_first_time_beside_those_written_does_not_give_back_the_rest():
    """The reviewer's letters example: 6 written, 5 approved first time; the 1 approved
    after changes is "fewer than 5", and the rows add up to those written."""
    figures = _zeros_but(
        **{
            "letters.written": 6,
            "letters.approved_first_time": 5,
            "letters.approved_after_changes": 1,
        }
    )
    assert _worked_out(figures) == {}
    assert dashboard.suppress(figures).cell("letters.approved_after_changes").text == FEWER


def test_four_answers_of_1_making_4_are_not_all_fewer_than_5():
    """ "Fewer than 5" is at least 1: four of them in a total of 4 are 1 each, so one is
    "withheld" (anything from 0) instead."""
    answers = {f"answers.{q}.victim.{a}": 1 for q in QUESTIONS for a in ANSWERS}
    figures = _zeros_but(**{"answers.victim.total": 4, "answers.total": 4, **answers})
    assert _worked_out(figures) == {}
    texts = [dashboard.suppress(figures).cell(key).text for key in answers]
    assert set(texts) <= {FEWER, WITHHELD} and WITHHELD in texts


def test_a_withheld_figure_may_be_0():
    """Which figure is withheld says nothing of its size: a 0 is hidden when it is the
    smallest that will do."""
    counts = {"t": 7, "a": 5, "b": 1, "c": 1, "d": 0}
    hidden = dashboard._hidden_cells(counts, (dashboard.Sum("t", ("a", "b", "c", "d")),))
    assert hidden["d"] is dashboard.Hidden.SECONDARY
