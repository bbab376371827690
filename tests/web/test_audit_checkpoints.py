"""`audit verify --checkpoints FILE` and the audit page's upload: the database's chain
must extend every checkpoint kept off the server, whatever was done to the database."""

import io
import json
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from relay import audit
from relay.models import AuditEntry
from relay.models import AuditHead
from tests.audit_tampering import add_entries
from tests.audit_tampering import delete_every_checkpoint
from tests.audit_tampering import rewrite_from
from tests.audit_tampering import roll_back_to

FAIL_LINE = re.compile(r"^FAIL entry (\d+): (.+)$", re.MULTILINE)


def _failed(result) -> dict[int, str]:
    return {int(sequence): message for sequence, message in FAIL_LINE.findall(result.output)}


@pytest.fixture
def exported(app, runner, session, demo_data, tmp_path):
    """The demo's chain with checkpoints at `first` and `second`, a tail, and an export.

    Returns (first, second, tail, path of the export, path of a checkpoints-only file).
    """
    first = session.scalar(select(AuditHead.sequence))
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    second = add_entries(session, 5)
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    tail = add_entries(session, 3)
    whole, only = tmp_path / "audit.json", tmp_path / "checkpoints.json"
    assert runner.invoke(args=["audit", "export", str(whole)]).exit_code == 0
    done = runner.invoke(args=["audit", "export", "--checkpoints-only", str(only)])
    assert done.exit_code == 0, done.output
    assert f"Wrote 2 checkpoints to {only}" in done.output
    session.expire_all()
    return first, second, tail, whole, only


def _verify(runner, *args: str):
    return runner.invoke(args=["audit", "verify", *args])


def test_an_untouched_chain_extends_its_export_and_checkpoints_file(runner, session, exported):
    _first, _second, _tail, whole, only = exported
    add_entries(session, 2)  # the service carries on after the export
    for path in (whole, only):
        result = _verify(runner, "--checkpoints", str(path))
        assert result.exit_code == 0, result.output
        assert "FAIL" not in result.output
        assert f"the chain extends all 2 checkpoints in {path}" in result.output


def test_a_rollback_to_an_earlier_checkpoint_fails_with_the_export(runner, session, exported):
    first, second, tail, whole, only = exported
    roll_back_to(session, first)

    plain = _verify(runner)
    assert plain.exit_code == 0 and "FAIL" not in plain.output, "the database alone agrees"

    result = _verify(runner, "--checkpoints", str(whole))
    assert result.exit_code == 1
    assert _failed(result) == {
        second: "missing: the chain is shorter than an exported checkpoint (rolled back or cut)",
        tail: "missing: the chain is shorter than the export (rolled back or cut)",
    }
    # The checkpoints-only file knows the signed checkpoint, not the unsigned tail.
    assert set(_failed(_verify(runner, "--checkpoints", str(only)))) == {second}


@pytest.mark.parametrize("attack", ["cut", "forged"])
def test_a_tail_changed_after_the_last_checkpoint_fails_with_the_export(
    runner, session, exported, attack
):
    _first, second, tail, whole, _only = exported
    if attack == "cut":
        roll_back_to(session, tail - 1)
    else:
        rewrite_from(session, second + 1)

    plain = _verify(runner)
    assert plain.exit_code == 0 and "FAIL" not in plain.output, "the database alone agrees"

    result = _verify(runner, "--checkpoints", str(whole))
    assert result.exit_code == 1
    assert set(_failed(result)) == {tail}
    expected = "differs from the export" if attack == "forged" else "shorter than the export"
    assert expected in _failed(result)[tail]


def test_a_tail_rewritten_behind_a_deleted_checkpoint_fails_with_either_file(
    runner, session, exported
):
    first, second, tail, whole, only = exported
    rewrite_from(session, first + 1)  # deletes the checkpoint at `second`

    plain = _verify(runner)
    assert plain.exit_code == 0 and "1 checkpoints verified" in plain.output
    for path in (whole, only):
        result = _verify(runner, "--checkpoints", str(path))
        assert result.exit_code == 1
        assert _failed(result)[second] == "differs from the exported checkpoint (history rewritten)"
        assert first not in _failed(result)


def test_history_rewritten_with_every_checkpoint_deleted_fails_with_the_export(
    runner, session, exported
):
    first, second, tail, whole, _only = exported
    delete_every_checkpoint(session)
    rewrite_from(session, 1)

    plain = _verify(runner)
    assert plain.exit_code == 0 and "0 checkpoints verified" in plain.output
    assert "WARNING no signed checkpoint" in plain.output

    result = _verify(runner, "--checkpoints", str(whole))
    assert result.exit_code == 1
    assert set(_failed(result)) == {first, second, tail}
    assert "OK" not in result.output
    assert f"FAIL entry {first}:" in result.stderr


def test_a_forged_checkpoints_file_fails(runner, exported, tmp_path):
    first, _second, _tail, whole, _only = exported
    data = json.loads(whole.read_text())
    data["checkpoints"][0]["entry_hash"] = "e" * 64
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))

    result = _verify(runner, "--checkpoints", str(forged))
    assert result.exit_code == 1
    assert _failed(result) == {first: "exported checkpoint signature is wrong"}


def test_a_file_with_another_verify_key_fails(runner, exported, tmp_path):
    *_, only = exported
    data = json.loads(only.read_text())
    data["verify_key"] = "ab" * 32
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))

    result = _verify(runner, "--checkpoints", str(other))
    assert result.exit_code == 1
    assert "FAIL checkpoints file: exported with another verify key" in result.output


def test_a_file_that_is_not_an_export_is_refused_by_name(runner, exported, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("my shopping list")
    result = _verify(runner, "--checkpoints", str(junk))
    assert result.exit_code != 0
    assert f"{junk}: The file is not JSON" in result.output
    assert "OK" not in result.output


def test_a_stale_checkpoint_warns_and_fails_only_when_strict(runner, session, app, demo_data):
    key = audit.load_signing_key(app.config["AUDIT_SIGNING_KEY_PATH"])
    audit.sign_checkpoint(session, key, now=datetime.now(UTC) - timedelta(hours=30))
    session.commit()
    warning = "WARNING newest checkpoint is 30 hours old (schedule: every 24 hours)"

    relaxed = _verify(runner)
    assert relaxed.exit_code == 0
    assert warning in relaxed.output
    assert warning in relaxed.stderr

    strict = _verify(runner, "--strict")
    assert strict.exit_code == 1
    assert warning in strict.output
    assert "OK" not in strict.output

    wider = _verify(runner, "--strict", "--max-age-hours", "36")
    assert wider.exit_code == 0, wider.output
    assert "hours old" not in wider.output


def test_entries_after_the_newest_checkpoint_are_reported(runner, exported):
    _first, second, tail, whole, _only = exported
    result = _verify(runner, "--checkpoints", str(whole))
    assert (
        f"WARNING {tail - second} entries after the newest checkpoint (entry {second}) "
        "are not covered by a signed checkpoint yet"
    ) in result.output


# --- the administrator's audit page -------------------------------------------------------


def _upload(client, content: bytes, name: str = "audit.json"):
    # Encoded in memory: the test client's own encoder spools a large body to a temporary
    # file that it never closes.
    body, length, boundary = stream_encode_multipart(
        {"export": FileStorage(io.BytesIO(content), filename=name)}, use_tempfile=False
    )
    return client.post(
        "/admin/audit",
        data=body.getvalue(),
        content_type=f"multipart/form-data; boundary={boundary}",
        content_length=length,
    )


@pytest.fixture
def admin_client(client, auth, world):
    auth.sign_in("administrator")
    return client


def test_the_audit_page_offers_an_upload_that_works_without_javascript(admin_client):
    page = admin_client.get("/admin/audit")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert 'method="post"' in page.text
    assert '<label class="label" for="export">' in page.text
    assert 'type="file"' in page.text
    assert "The audit trail is intact" in page.text


def test_uploading_the_export_checks_the_chain_against_it(admin_client, session, app, tmp_path):
    key = audit.load_signing_key(app.config["AUDIT_SIGNING_KEY_PATH"])
    audit.sign_checkpoint(session, key)
    session.commit()
    checkpointed = session.scalar(select(AuditHead.sequence))
    add_entries(session, 2)
    content = json.dumps(audit.export(session, key.verify_key)).encode()

    fine = _upload(admin_client, content)
    assert fine.status_code == 200
    assert "The audit trail is intact" in fine.text
    assert "1 checkpoints from the uploaded file" in fine.text
    assert "2 entries after the newest checkpoint" in fine.text

    rewrite_from(session, checkpointed)
    assert "The audit trail is intact" in admin_client.get("/admin/audit").text
    caught = _upload(admin_client, content)
    assert caught.status_code == 200
    assert "The audit trail has been changed" in caught.text
    assert f"entry {checkpointed}: differs from the exported checkpoint" in caught.text
    assert "The audit trail is intact" not in caught.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"my shopping list", "The file is not JSON"),
        (b'{"checkpoints": []}', "The file holds no checkpoints"),
        (b"", "The selected file is empty"),
    ],
)
def test_a_file_that_is_not_an_export_shows_an_error_summary(admin_client, content, message):
    page = _upload(admin_client, content)
    assert page.status_code == 200
    assert "There is a problem" in page.text
    assert 'href="#export"' in page.text
    assert message in page.text
    assert 'id="export-error"' in page.text
    assert "from the uploaded file" not in page.text


def test_no_file_chosen_shows_an_error_summary(admin_client):
    page = admin_client.post("/admin/audit", data={}, content_type="multipart/form-data")
    assert "There is a problem" in page.text
    assert "Choose the exported file" in page.text


def test_a_file_over_the_size_cap_is_refused(admin_client):
    page = _upload(admin_client, b" " * (5 * 1024 * 1024 + 1))
    assert "There is a problem" in page.text
    assert "The file must be smaller than 5 MB" in page.text


def test_the_upload_changes_nothing(admin_client, session, app):
    key = audit.load_signing_key(app.config["AUDIT_SIGNING_KEY_PATH"])
    audit.sign_checkpoint(session, key)
    session.commit()
    before = audit.head(session)
    count = len(session.scalars(select(AuditEntry.sequence)).all())
    _upload(admin_client, json.dumps(audit.export(session, key.verify_key)).encode())
    session.expire_all()
    assert audit.head(session) == before
    assert len(session.scalars(select(AuditEntry.sequence)).all()) == count


# --- the page checks only what was added since the scheduled whole-chain check ----------
# (issue "Performance and scale", item 5: it verified the whole chain on every view)


def _entries_read_by_the_page(app, client) -> tuple[str, int]:
    """The page, and how many audit entries its check read from the database."""
    from tests.web.test_constant_sql import counted

    with counted(app) as statements:
        page = client.get("/admin/audit").text
    reads = [s for s in statements if "FROM audit_entries" in s]
    assert len(reads) == 1
    return page, int(re.search(r"intact: (\d+) entr", page).group(1))


def test_the_page_checks_only_what_followed_the_scheduled_check(app, runner, admin_client, session):
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    add_entries(session, 4)
    page, read = _entries_read_by_the_page(app, admin_client)
    assert "entries added since then" in page
    assert "last checked on" in page
    # Signing in as the administrator added entries too: only the new ones are read.
    assert 4 <= read < 20


def _change_details(session, sequence: int) -> None:
    """A change made without re-hashing: what the chain's own check finds."""
    from sqlalchemy import update

    from relay.models import AuditEntry

    session.execute(
        update(AuditEntry).where(AuditEntry.sequence == sequence).values(details='{"x":1}')
    )
    session.commit()


def test_a_change_after_the_scheduled_check_is_found_by_the_page(runner, admin_client, session):
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    added = add_entries(session, 4)
    _change_details(session, added - 1)
    page = admin_client.get("/admin/audit").text
    assert "The audit trail has been changed" in page


def test_a_rewrite_of_what_the_scheduled_check_saw_is_found_by_the_page(
    runner, admin_client, session
):
    """The link: what follows must follow on from the hash where that check ended."""
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    end = session.scalar(select(AuditHead.sequence))
    add_entries(session, 2)
    rewrite_from(session, end)  # re-chains the checked entry and everything after it
    assert "The audit trail has been changed" in admin_client.get("/admin/audit").text


def test_without_a_clean_scheduled_check_the_page_checks_everything(
    app, runner, admin_client, session
):
    _change_details(session, 3)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1  # recorded, not clean
    page = admin_client.get("/admin/audit").text
    assert "last checked on" not in page
    assert "The audit trail has been changed" in page
