"""`make bench`: Relay's steps, lists, `audit verify` and gunicorn under load, each beside
a baseline measured in the same run, as one table; the same figures as JSON in
bench/results/latest.json.

SQLite in a temporary file by default; PostgreSQL when DATABASE_URL names a server (the
bench makes and drops its own databases there, never the tests'). BENCH_FULL=1 adds the
1M-entry audit chain; BENCH_ROUNDS sets the rounds (7); BENCH_LOAD_SECONDS the load
test's length (30 s for Relay, then 30 s for the bare app).
Targets are those of issue 12 ("Performance and scale").
"""

import json
import time
from dataclasses import asdict
from pathlib import Path

from bench import bench_audit
from bench import bench_load
from bench import bench_steps
from bench.baseline import Baseline
from bench.harness import ROUNDS
from bench.harness import Databases
from bench.harness import Row
from bench.harness import machine
from bench.harness import ms
from bench.harness import table

RESULTS = Path(__file__).parent / "results" / "latest.json"
STEP_NAMES = {
    "submit": "submit a letter",
    "approve": "approve and deliver",
    "open": "open a letter",
}
STEP_TARGET = 2.0  # at most twice the bare request
LIST_TARGET = 0.050  # seconds, at 1,000 letters in review
VERIFY_TARGET = 300_000  # entries a second
LOAD_TARGET = 0.5  # at least half the bare app's requests a second


def _step_rows(measured: dict[str, bench_steps.Measured]) -> list[Row]:
    rows = []
    for name, found in measured.items():
        timing = found.timing
        rows.append(
            Row(
                what=STEP_NAMES[name],
                relay=f"{ms(timing.relay_median)}, {found.statements} SQL, {found.commits} commit",
                baseline=ms(timing.baseline_median),
                ratio=f"{timing.ratio:.1f}x",
                target=f"<= {STEP_TARGET:g}x",
                met=timing.ratio <= STEP_TARGET,
                data={
                    "relay_s": timing.relay,
                    "baseline_s": timing.baseline,
                    "statements": found.statements,
                    "commits": found.commits,
                },
            )
        )
    return rows


def _list_rows(measured: dict[tuple[str, int], bench_steps.Measured]) -> list[Row]:
    rows = []
    for page in bench_steps.LIST_PAGES:
        counts = {scale: measured[(page, scale)].statements for scale in bench_steps.SCALES}
        constant = len(set(counts.values())) == 1
        first = measured[(page, bench_steps.SCALES[0])].timing.relay_median
        for scale in bench_steps.SCALES:
            found = measured[(page, scale)]
            timing = found.timing
            if scale == 1_000 and page.startswith("review"):
                target = f"< {LIST_TARGET * 1000:g} ms, SQL constant"
                met = timing.relay_median < LIST_TARGET and constant
            elif scale == bench_steps.SCALES[-1]:
                # "Constant": within twice the time at the smallest scale, and the same SQL.
                target = "constant (<= 2x the 100 figure), SQL constant"
                met = timing.relay_median <= 2 * first and constant
            else:
                target, met = "SQL constant", constant
            rows.append(
                Row(
                    what=f"{page}, {scale:,} in review",
                    relay=f"{ms(timing.relay_median)}, {found.statements} SQL",
                    baseline=ms(timing.baseline_median),
                    ratio=f"{timing.ratio:.1f}x",
                    target=target,
                    met=met,
                    data={
                        "relay_s": timing.relay,
                        "baseline_s": timing.baseline,
                        "statements": found.statements,
                    },
                )
            )
    return rows


def _audit_rows(short_peak: int, verified: list[bench_audit.Verified]) -> list[Row]:
    rows = []
    for found in verified:
        timing = found.timing
        rate = found.entries / timing.relay_median
        plain = found.entries / timing.baseline_median
        rows.append(
            Row(
                what=f"audit verify, {found.entries:,} entries",
                relay=f"{rate:,.0f} entries/s",
                baseline=f"{plain:,.0f} entries/s (plain read)",
                ratio=f"{timing.ratio:.1f}x",
                target=f">= {VERIFY_TARGET:,} entries/s",
                met=rate >= VERIFY_TARGET,
                data={
                    "entries": found.entries,
                    "relay_s": timing.relay,
                    "baseline_s": timing.baseline,
                },
            )
        )
        rows.append(
            Row(
                what=f"audit verify memory, {found.entries:,} entries",
                relay=f"{found.peak_bytes / 2**20:.1f} MiB peak",
                baseline=f"{short_peak / 2**20:.1f} MiB at {bench_audit.MEMORY_BELOW:,}",
                ratio=f"{found.peak_bytes / short_peak:.1f}x",
                target="constant (<= 1.5x the short chain)",
                met=found.peak_bytes <= 1.5 * short_peak,
                data={"peak_bytes": found.peak_bytes, "short_peak_bytes": short_peak},
            )
        )
    return rows


def _audit_page_rows(measured: dict[int, bench_steps.Measured]) -> list[Row]:
    scales = bench_steps.AUDIT_PAGE_SCALES
    first = measured[scales[0]].timing.relay_median
    constant = len({found.statements for found in measured.values()}) == 1
    rows = []
    for scale in scales:
        found = measured[scale]
        timing = found.timing
        last = scale == scales[-1]
        rows.append(
            Row(
                what=f"administrator's audit page, {scale:,} entries "
                f"({bench_steps.SINCE_LAST_RUN} since the scheduled verify)",
                relay=f"{ms(timing.relay_median)}, {found.statements} SQL",
                baseline=ms(timing.baseline_median),
                ratio=f"{timing.ratio:.1f}x",
                target=f"constant (<= 2x the {scales[0]:,} figure), SQL constant" if last else "",
                met=(timing.relay_median <= 2 * first and constant) if last else None,
                data={
                    "relay_s": timing.relay,
                    "baseline_s": timing.baseline,
                    "statements": found.statements,
                },
            )
        )
    return rows


def _mail_rows(measured: dict[int, bench_steps.Measured]) -> list[Row]:
    none, many = (measured[scale] for scale in bench_steps.SENT_MAIL_SCALES)
    growth = many.timing.relay_median / none.timing.relay_median
    return [
        Row(
            what=f"submit a letter with {bench_steps.SENT_MAIL_SCALES[-1]:,} sent outbox rows "
            "(the mail check)",
            relay=f"{ms(many.timing.relay_median)}, {many.statements} outbox SQL "
            f"(with none sent: {ms(none.timing.relay_median)}, {none.statements} outbox SQL)",
            baseline=ms(many.timing.baseline_median),
            ratio=f"{growth:.2f}x the time with none sent",
            target="off the request path: no growth (<= 1.5x), same SQL",
            met=growth <= 1.5 and many.statements == none.statements,
            data={
                "relay_s": many.timing.relay,
                "relay_none_sent_s": none.timing.relay,
                "baseline_s": many.timing.baseline,
                "statements": many.statements,
            },
        )
    ]


def _served(load: bench_load.Load) -> str:
    return (
        f"{load.per_second:,.0f} req/s, p50/p95/p99 {load.median * 1000:.0f}/"
        f"{load.percentile(0.95) * 1000:.0f}/{load.percentile(0.99) * 1000:.0f} ms, "
        f"{load.errors} errors, worker peak {load.worker_peak_bytes / 2**20:.0f} MiB"
    )


def _load_row(relay: bench_load.Load, bare: bench_load.Load) -> Row:
    share = relay.per_second / bare.per_second
    return Row(
        what=f"gunicorn {bench_load.WORKERS} workers, {bench_load.USERS} users opening a letter",
        relay=_served(relay),
        baseline=_served(bare),
        ratio=f"{share:.2f}x",
        target=f">= {LOAD_TARGET:g}x the bare app's req/s, 0 errors",
        met=share >= LOAD_TARGET and relay.errors == 0,
        data={
            "seconds": bench_load.SECONDS,
            "relay": {**asdict(relay), "latencies": None, "per_second": relay.per_second},
            "baseline": {**asdict(bare), "latencies": None, "per_second": bare.per_second},
            "relay_first_error": relay.first_error,
        },
    )


def main() -> None:
    started = time.perf_counter()
    databases = Databases()
    try:
        about = machine(databases.kind())
        print(
            f"Relay bench: {about['cpus']} CPUs, Python {about['python']}, {about['database']}, "
            f"median of {ROUNDS} interleaved rounds (Relay, then the bare request)",
            flush=True,
        )
        relay = bench_steps.RelayApp(databases.new("relay"), databases.folder)
        baseline = Baseline(databases.new("baseline"))
        try:
            print("steps ...", flush=True)
            rows = _step_rows(bench_steps.steps(relay, baseline))
            print("lists ...", flush=True)
            rows += _list_rows(bench_steps.lists(relay, baseline))
            print("the administrator's audit page, the mail check ...", flush=True)
            rows += _audit_page_rows(bench_steps.audit_page(relay, baseline))
            rows += _mail_rows(bench_steps.mail_after_posts(relay, baseline))
            print("audit verify ...", flush=True)
            rows += _audit_rows(*bench_audit.verify_at_scales(relay))
        finally:
            relay.close()
            baseline.close()
        print(f"load, {bench_load.SECONDS:g} s each ...", flush=True)
        rows.append(_load_row(bench_load.relay_load(databases), bench_load.bare_load(databases)))
    finally:
        databases.close()
    about["seconds"] = round(time.perf_counter() - started, 1)
    print()
    print(table(rows))
    print(
        f"\n{about['cpus']} CPUs, Python {about['python']}, {about['database']}, "
        f"{about['date']}, commit {about['commit']}; "
        "baseline: bare Flask + SQLAlchemy, one insert and one select; "
        f"{about['seconds']} s"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"machine": about, "rows": [asdict(row) for row in rows]}, indent=2) + "\n"
    )
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
