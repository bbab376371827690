"""Two retention runs at once on PostgreSQL (relay/services/retention.py `purge`): each
expired case is shredded exactly once, audited once, and neither run fails; the run that
comes second to a case finds it done under the case's lock and passes over it."""

import json
import os
import subprocess
import sys
from datetime import UTC
from datetime import date
from datetime import datetime

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from relay import audit
from relay.models import AuditEntry
from relay.models import Case
from relay.models import SealedNote
from relay.services import cases
from relay.services import retention
from tests.concurrency.harness import ROOT
from tests.concurrency.harness import race

pytestmark = pytest.mark.slow

ROUNDS = 5
CASES_PER_ROUND = 6
LONG_AGO = datetime(2020, 6, 1, 12, 0, tzinfo=UTC)
TODAY = date(2026, 11, 27)


def _closed_cases(session, facilitator, prefix: str) -> list[int]:
    """Cases with a note each (something to shred), closed long ago."""
    made = []
    for number in range(CASES_PER_ROUND):
        case = cases.open_case(
            session, facilitator, reference=f"{prefix}-{number}", offence_category="burglary"
        )
        cases.add_case_note(session, facilitator, case.id, "A note to be forgotten.")
        cases.close_case(session, facilitator, case.id, "completed")
        made.append(case.id)
    session.execute(update(Case).where(Case.id.in_(made)).values(closed_at=LONG_AGO))
    session.commit()
    return made


def _entries_for(session, case_ids: list[int]) -> list[AuditEntry]:
    return session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "case.shredded", AuditEntry.case_id.in_(case_ids)
        )
    ).all()


def _purge_in_own_session(app, settings):
    def purge(ready):
        with app.extensions["relay.sessionmaker"]() as own:
            ready.wait()
            return retention.purge(own, settings, today=TODAY)

    return purge


def test_two_purges_at_once_shred_each_case_once(app, session, settings, world):
    for round_number in range(ROUNDS):
        made = _closed_cases(session, world.facilitator, f"RACE-{round_number}")
        first, second = race(
            _purge_in_own_session(app, settings), _purge_in_own_session(app, settings)
        )
        assert not isinstance(first, BaseException), first
        assert not isinstance(second, BaseException), second
        done = [p.case_id for p in first.shredded] + [p.case_id for p in second.shredded]
        assert sorted(done) == sorted(made), round_number
        session.expire_all()
        entries = _entries_for(session, made)
        assert sorted(e.case_id for e in entries) == sorted(made)
        assert all(json.loads(e.details)["by"] == "retention" for e in entries)
        assert (
            session.scalar(
                select(func.count())
                .select_from(SealedNote)
                .where(SealedNote.case_id.in_(made), SealedNote.ciphertext.is_not(None))
            )
            == 0
        )
    verify_key = audit.load_signing_key(app.config["AUDIT_SIGNING_KEY_PATH"]).verify_key
    assert audit.verify(session, verify_key).ok


def test_two_purge_commands_at_once_both_finish(app, session, settings, world, database_url):
    made = _closed_cases(session, world.facilitator, "CLI-RACE")
    environ = {
        **os.environ,
        "RELAY_ENV": "test",
        "DATABASE_URL": database_url,
        "AUDIT_SIGNING_KEY_PATH": app.config["AUDIT_SIGNING_KEY_PATH"],
    }
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "retention", "purge"]
    runs = [
        subprocess.Popen(
            flask, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, (out, err)
        assert b"Traceback" not in err, err
    session.expire_all()
    assert sorted(e.case_id for e in _entries_for(session, made)) == sorted(made)
