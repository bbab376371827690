"""The deployment files of docs/deploy.md name only what exists: every systemd unit runs
a real `flask` command with options it accepts, and gunicorn's settings read the
environment as the README says."""

import re
import runpy
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
UNITS = sorted((ROOT / "deploy").glob("*.service"))


def test_there_is_a_unit_for_the_web_the_outbox_and_every_periodic_job():
    names = {unit.stem for unit in UNITS}
    assert {"relay-web", "relay-outbox", "relay-sessions-sweep", "relay-deliver-due"} <= names
    assert {"relay-audit-checkpoint", "relay-audit-verify"} <= names
    for unit in UNITS:
        if unit.stem not in ("relay-web", "relay-outbox"):
            assert unit.with_suffix(".timer").exists(), f"{unit.name} has no timer"


@pytest.mark.parametrize(
    "unit", [u for u in UNITS if "flask" in u.read_text()], ids=lambda u: u.name
)
def test_each_unit_runs_a_command_that_exists(app, unit):
    command = re.search(r"^ExecStart=(.*)$", unit.read_text(), re.M).group(1)
    words = shlex.split(command)
    arguments = words[words.index("wsgi") + 1 :]
    result = app.test_cli_runner().invoke(args=[*arguments, "--help"])
    assert result.exit_code == 0, f"{unit.name}: {command}\n{result.output}"


def test_gunicorn_reads_its_workers_and_address_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("RELAY_BIND", "127.0.0.1:9000")
    settings = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert (settings["workers"], settings["bind"]) == (3, "127.0.0.1:9000")
    assert settings["accesslog"] is None  # paths name letters and cases
    web = (ROOT / "deploy" / "relay-web.service").read_text()
    assert "-c config/gunicorn.conf.py wsgi:app" in web


def test_the_reminders_digest_runs_daily_in_uk_time_and_docs_deploy_enables_it():
    service = (ROOT / "deploy" / "relay-reminders.service").read_text()
    assert "flask --app wsgi reminders send" in service
    timer = (ROOT / "deploy" / "relay-reminders.timer").read_text()
    # The start of the UK working day even on a server kept in UTC, and caught up after
    # the machine was off (the command sends nothing twice the same day).
    assert re.search(r"^OnCalendar=\*-\*-\* 07:30 Europe/London$", timer, re.M)
    assert re.search(r"^Persistent=true$", timer, re.M)
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert "relay-reminders.timer" in deploy
    assert "`reminders send` daily" in deploy
