"""`flask --app wsgi …` commands; each is a thin call into services."""

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask
from flask import current_app
from flask.cli import AppGroup
from flask.cli import with_appcontext
from sqlalchemy import select

from relay import audit
from relay import mailer
from relay import schema
from relay.models import Case
from relay.services import accounts
from relay.services import cases
from relay.services import delivery
from relay.services import keys
from relay.services import reminders
from relay.services import retention
from relay.services import signing_in
from relay.services import staff
from relay.services.errors import DomainError
from relay.services.errors import NotFound


def _sessions():
    return current_app.extensions["relay.sessionmaker"]


def _settings():
    return current_app.extensions["relay.settings"]


def _signing_key_path() -> Path:
    return Path(current_app.config["AUDIT_SIGNING_KEY_PATH"])


def initialise(app: Flask) -> list[str]:
    """Migrate, start the audit chain and make the signing key; safe to run again."""
    done = []
    schema.upgrade(app.config["DATABASE_URL"])
    done.append("database schema is up to date")
    with app.extensions["relay.sessionmaker"]() as session:
        audit.ensure_head(session)
    if audit.create_signing_key(app.config["AUDIT_SIGNING_KEY_PATH"]):
        done.append(f"made the audit signing key at {app.config['AUDIT_SIGNING_KEY_PATH']}")
    else:
        done.append("audit signing key already exists")
    return done


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create or migrate the database and make the audit signing key."""
    for line in initialise(current_app._get_current_object()):
        click.echo(line)


@click.command("create-admin")
@with_appcontext
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin_command(email: str, name: str, password_stdin: bool) -> None:
    """Make an administrator (the first one also makes the escrow key)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _sessions()() as session:
        try:
            created = accounts.create_administrator(
                session, _settings(), email=email, name=name, password=password
            )
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"Administrator {created.user.email} created.")
    click.echo("Recovery code (shown once; keep it somewhere safe, offline):")
    click.echo(f"  {created.recovery_code}")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load demo accounts and a case with letters in every state (once)."""
    from relay import demo

    with _sessions()() as session:
        lines = demo.load(session, _settings())
    for line in lines:
        click.echo(line)


@click.group("audit", cls=AppGroup)
def audit_group() -> None:
    """Check, checkpoint and export the audit trail."""


@audit_group.command("verify")
@click.option(
    "--checkpoints",
    "checkpoints_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A file kept off the server: the JSON from `audit export`, or from "
    "`audit export --checkpoints-only`. The chain must extend every checkpoint in it.",
)
@click.option(
    "--max-age-hours",
    type=click.FloatRange(min=0, min_open=True, max=24 * 366 * 10),
    default=audit.CHECKPOINT_SCHEDULE / timedelta(hours=1),
    show_default=True,
    help="Warn when the newest checkpoint is older than this (the checkpoint schedule).",
)
@click.option("--strict", is_flag=True, help="Fail, not only warn, on a late checkpoint.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=audit.default_workers,
    show_default=f"the number of CPUs, at most {audit.MAX_WORKERS}",
    help=f"Processes that check a chain of {audit.PARALLEL_FROM:,} entries or more, each "
    "with a database connection of its own; 1 checks it in this process alone.",
)
def audit_verify(
    checkpoints_file: str | None, max_age_hours: float, strict: bool, workers: int
) -> None:
    """Recompute the chain and check every checkpoint, in the database and in a file."""
    kept = None
    if checkpoints_file is not None:
        try:
            kept = audit.read_checkpoints(Path(checkpoints_file).read_bytes())
        except audit.InvalidExport as error:
            raise click.ClickException(f"{checkpoints_file}: {error}") from None
    key = audit.load_signing_key(_signing_key_path()).verify_key
    with _sessions()() as session:
        result = audit.verify(
            session,
            key,
            kept=kept,
            max_checkpoint_age=timedelta(hours=max_age_hours),
            workers=workers,
        )
        # The administrator's page starts from here and checks only what follows.
        audit.record_verification(session, result)
    for problem in result.problems:
        click.echo(f"FAIL {problem}", err=True)
    for warning in result.warnings:
        click.echo(f"WARNING {warning}", err=True)
    if not result.ok or (strict and result.stale):
        raise SystemExit(1)
    done = f"OK: {result.entries} entries and {result.checkpoints} checkpoints verified"
    if kept is not None:
        done += (
            f"; the chain extends all {result.kept_checkpoints} checkpoints in {checkpoints_file}"
        )
    click.echo(done)


@audit_group.command("checkpoint")
def audit_checkpoint() -> None:
    key = audit.load_signing_key(_signing_key_path())
    with _sessions()() as session:
        checkpoint = audit.sign_checkpoint(session, key)
        click.echo(f"Signed checkpoint at entry {checkpoint.sequence}: {checkpoint.entry_hash}")


@audit_group.command("export")
@click.option(
    "--checkpoints-only",
    is_flag=True,
    help="Write only the verify key and the signed checkpoints: a small file for "
    "`audit verify --checkpoints` or the audit page.",
)
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def audit_export(path: str, checkpoints_only: bool) -> None:
    key = audit.load_signing_key(_signing_key_path()).verify_key
    with _sessions()() as session:
        exported = audit.export(session, key, entries=not checkpoints_only)
    Path(path).write_text(json.dumps(exported, indent=1))
    if checkpoints_only:
        click.echo(f"Wrote {len(exported['checkpoints'])} checkpoints to {path}")
    else:
        click.echo(f"Wrote {len(exported['entries'])} entries to {path}")


@click.group("outbox", cls=AppGroup)
def outbox_group() -> None:
    """Send the e-mail notices waiting in the outbox."""


@outbox_group.command("send")
@click.option("--loop", is_flag=True, help="Keep sending every few seconds.")
@click.option("--interval", default=10, show_default=True)
def outbox_send(loop: bool, interval: int) -> None:
    """The only sender of mail: run it every minute, or leave it running with --loop."""
    app = current_app._get_current_object()
    while True:
        try:
            result = mailer.dispatch(app)
        except Exception as error:  # noqa: BLE001 - a database restart must not end the worker
            if not loop:
                raise
            click.echo(f"outbox pass failed ({type(error).__name__}); trying again", err=True)
        else:
            click.echo(f"sent {result.sent}, failed {result.failed}")
        if not loop:
            return
        time.sleep(interval)


@click.group("sessions", cls=AppGroup)
def sessions_group() -> None:
    """Sign-in sessions."""


@sessions_group.command("sweep")
def sessions_sweep() -> None:
    """End sessions past their limits and wipe their keys (run every few minutes)."""
    with _sessions()() as session:
        ended = signing_in.end_expired_sessions(session, _settings())
    click.echo(f"ended {ended} sessions")


@click.group("keys", cls=AppGroup)
def keys_group() -> None:
    """The keys that protect letters."""


@keys_group.command("migrate")
@click.option("--email", required=True, help="An administrator who holds the team key.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--batch-size", default=50, show_default=True, help="Cases per transaction.")
def keys_migrate(email: str, password_stdin: bool, batch_size: int) -> None:
    """Re-seal letters from the old team key to a key per case, then destroy the team key."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True)
    with _sessions()() as session:
        try:
            actor = signing_in.unlock_for_command(
                session, _settings(), email=email, password=password, purpose="keys migrate"
            )
            while True:
                step = keys.migrate_team_key(session, actor.user, actor.private_key, batch_size)
                click.echo(
                    f"re-sealed {step.versions} letter versions in {step.cases} cases; "
                    f"{step.remaining_cases} cases to go"
                )
                if step.finished:
                    break
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    click.echo("Every letter is sealed to its case key; the team key is destroyed.")


@keys_group.command("rotate-after-leaver")
@click.option(
    "--user",
    "user_id",
    type=int,
    required=True,
    help="The id of the closed account (shown on the person's staff page).",
)
@click.option("--email", required=True, help="An administrator who holds the escrow key.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def keys_rotate_after_leaver(user_id: int, email: str, password_stdin: bool) -> None:
    """Give each case whose key a departed facilitator held a new key, one case per
    transaction: safe to stop and run again."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True)
    rotated = resealed = 0
    with _sessions()() as session:
        try:
            actor = signing_in.unlock_for_command(
                session,
                _settings(),
                email=email,
                password=password,
                purpose="keys rotate-after-leaver",
            )
            todo = staff.cases_to_rotate(session, actor, user_id)
            with click.progressbar(todo, label="Rotating case keys", show_pos=True) as bar:
                for case_id in bar:
                    done = staff.rotate_after_leaving(session, actor, user_id, case_id)
                    if done is not None:
                        rotated, resealed = rotated + 1, resealed + done
            retired = staff.finish_after_leaving(session, actor, user_id)
        except NotFound:
            raise click.ClickException(f"no staff account with id {user_id}") from None
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    click.echo(
        f"rotated {rotated} case keys; re-sealed {resealed} letter and note keys. "
        "Nothing of these cases opens with the keys they held any more."
    )
    if retired:
        click.echo(f"deleted {retired} escrow key(s) that no case key is sealed to any more")


@click.group("letters", cls=AppGroup)
def letters_group() -> None:
    """Scheduled work on letters."""


@letters_group.command("deliver-due")
def letters_deliver_due() -> None:
    """Deliver approved letters whose "not before" date has come (run daily)."""
    with _sessions()() as session:
        delivered = delivery.deliver_due_everywhere(session, _settings())
    click.echo(f"delivered {delivered}")


@click.group("reminders", cls=AppGroup)
def reminders_group() -> None:
    """The facilitators' daily digest."""


@reminders_group.command("send")
def reminders_send() -> None:
    """Queue each facilitator's digest of what waits in their cases, counts only (run
    daily; nothing on weekends and bank holidays, nothing twice the same day)."""
    with _sessions()() as session:
        run = reminders.send_digests(session, _settings())
    if run.skipped:
        click.echo(f"{run.day:%Y-%m-%d}: {run.skipped}; nothing sent")
    else:
        click.echo(f"{run.day:%Y-%m-%d}: queued {run.digests} digests for the outbox")


@click.group("case", cls=AppGroup)
def case_group() -> None:
    """Retention of closed cases."""


@case_group.command("shred")
@click.argument("reference")
@click.confirmation_option(prompt="This makes every letter of the case unreadable, for ever.")
def case_shred(reference: str) -> None:
    """Delete every key and ciphertext of a closed case; the audit trail keeps metadata."""
    with _sessions()() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        if case is None:
            raise click.ClickException(f"no case with reference {reference}")
        try:
            shredded = cases.shred_case(session, case.id)
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"shredded {shredded} letter versions and notes of case {reference}")


@click.group("retention", cls=AppGroup)
def retention_group() -> None:
    """Closed cases' letters, scans and notes forgotten at the end of the retention period."""


@retention_group.command("due")
@click.option("--days", default=retention.DUE_WITHIN_DAYS, show_default=True, type=int)
def retention_due(days: int) -> None:
    """List the closed cases the purge will shred within DAYS: references and dates only."""
    settings = _settings()
    with _sessions()() as session:
        listed = retention.due(session, settings, within_days=days)
    by = retention.today_in_utc() + timedelta(days=days)
    if not listed:
        click.echo(f"No closed case falls due for shredding by {by:%Y-%m-%d}.")
        return
    click.echo(
        f"{len(listed)} closed case(s) fall due for shredding by {by:%Y-%m-%d} "
        f"(kept {settings.retention_years} years after closing):"
    )
    for case in listed:
        click.echo(
            f"  {case.reference}  closed {case.closed_on:%Y-%m-%d}  due {case.falls_due:%Y-%m-%d}"
        )


@retention_group.command("purge")
def retention_purge() -> None:
    """Crypto-shred every closed case past its retention period, one case per transaction
    (run daily; safe to interrupt and to run again)."""
    with _sessions()() as session:
        run = retention.purge(session, _settings())
    if not run.shredded:
        click.echo(f"{run.day:%Y-%m-%d}: nothing to shred")
    else:
        click.echo(f"{run.day:%Y-%m-%d}: shredded {len(run.shredded)} case(s):")
        for case in run.shredded:
            click.echo(f"  {case.reference} ({case.texts} letter versions, notes and scans)")
    if run.passed_over:
        click.echo(f"passed over {run.passed_over} case(s) another run had shredded")


def register_commands(app: Flask) -> None:
    commands = (
        init_command,
        create_admin_command,
        demo_command,
        audit_group,
        outbox_group,
        letters_group,
        reminders_group,
        case_group,
        retention_group,
        sessions_group,
        keys_group,
    )
    for command in commands:
        app.cli.add_command(command)
