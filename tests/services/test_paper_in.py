"""A letter that comes on paper (issue 10, item 3): its scan kept encrypted with the day it
came and the date on its envelope, a first transcript proposed by Tesseract, typed in
beside the scan, and approved only by another facilitator who confirms the two match.
Every step is in the case's trail and on its timeline (item 4)."""

import difflib
import io
import json
from datetime import date
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Letter
from relay.models import LetterState
from relay.models import PaperScan
from relay.models import Role
from relay.models import utcnow
from relay.services import access
from relay.services import cases
from relay.services import claims
from relay.services import letters
from relay.services import paper_in
from relay.services import timeline
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from tests.factories import OTHER
from tests.factories import actor_for
from tests.paper import received
from tests.paper import scan_of
from tests.paper import typed_from_paper

LINES = [
    "Dear Pat,",
    "I am writing to say that I am sorry for what I did",
    "to your home in March. I think about it every day.",
    "Yours sincerely, Lee",
]
TEXT = "\n".join(LINES)
# Raises no review flag (no name, no place): only the scan's check stands in the way.
UNFLAGGED = "I am sorry for what I did.\nI think about it every day."


def _details(session, action: str) -> list[dict]:
    return [
        json.loads(details)
        for details in session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == action)
        )
    ]


def test_a_paper_letter_received_is_kept_encrypted_with_its_days_in_the_trail(session, world):
    came = utcnow().date() - timedelta(days=2)
    dated = came - timedelta(days=5)
    upload = scan_of(LINES)
    scan = received(
        session,
        world.facilitator,
        world.case.id,
        Role.OFFENDER,
        LINES,
        received_on=came,
        envelope_dated=dated,
    )
    stored = session.get(PaperScan, scan.id)
    assert stored.received_on == came and stored.envelope_dated == dated
    assert stored.media_type == "image/png" and stored.pages == 1
    # Neither the upload nor the cleaned picture is in the database in clear.
    assert b"PNG" not in stored.ciphertext[:64] and upload[16:64] not in stored.ciphertext
    assert _details(session, "case.paper_letter_received") == [
        {"scan": scan.id, "received_on": came.isoformat(), "envelope_dated": dated.isoformat()}
    ]
    assert _details(session, "case.paper_letter_scanned") == [
        {"scan": scan.id, "pages": 1, "type": "png"}
    ]
    # The facilitator sees it again as a picture, the same size as the page scanned.
    picture, media_type = paper_in.page_picture(session, world.facilitator, scan.id, 1)
    assert media_type == "image/png"
    assert Image.open(io.BytesIO(picture)).size == Image.open(io.BytesIO(upload)).size


def test_the_timeline_shows_the_days_a_paper_letter_came(session, world):
    came = date(2026, 11, 25)
    received(
        session,
        world.facilitator,
        world.case.id,
        Role.OFFENDER,
        LINES,
        received_on=came,
        envelope_dated=date(2026, 11, 20),
    )
    words = [
        entry.what for entry in timeline.timeline(session, world.facilitator, world.case.id).items
    ]
    assert (
        "Received a letter on paper (envelope dated 20 November 2026, came 25 November 2026)"
        in words
    )
    assert "Scanned a letter that came on paper" in words


@pytest.mark.parametrize(
    ("came", "dated", "field"),
    [
        (None, None, "received_on"),
        (utcnow().date() + timedelta(days=1), None, "received_on"),
        (utcnow().date(), utcnow().date() + timedelta(days=1), "envelope_dated"),
    ],
)
def test_the_days_must_make_sense(session, world, came, dated, field):
    with pytest.raises(InvalidInput) as refused:
        paper_in.receive_paper_letter(
            session,
            world.facilitator,
            world.case.id,
            author_role=Role.OFFENDER,
            received_on=came,
            envelope_dated=dated,
            upload=scan_of(LINES),
        )
    assert refused.value.field == field
    assert session.scalars(select(PaperScan)).all() == []


def test_an_upload_that_is_not_a_scan_is_refused_and_nothing_kept(session, world):
    with pytest.raises(InvalidInput, match="not a PDF, JPEG or PNG"):
        paper_in.receive_paper_letter(
            session,
            world.facilitator,
            world.case.id,
            author_role=Role.OFFENDER,
            received_on=utcnow().date(),
            envelope_dated=None,
            upload=b"<html><script>alert(1)</script></html>",
            filename="letter.pdf",
        )
    assert session.scalars(select(PaperScan)).all() == []
    assert _details(session, "case.paper_letter_received") == []


def test_tesseract_proposes_a_draft_close_to_the_letter(session, world):
    scan = received(session, world.facilitator, world.case.id, Role.OFFENDER, LINES)
    draft = paper_in.draft_transcript(session, world.facilitator, world.case.id, scan.id)
    assert draft.read
    ratio = difflib.SequenceMatcher(None, " ".join(draft.text.split()), " ".join(LINES)).ratio()
    assert ratio > 0.9, draft.text


def test_typing_in_joins_the_scan_to_the_version_and_a_scan_is_typed_in_once(
    session, settings, world
):
    scan = received(session, world.facilitator, world.case.id, Role.OFFENDER, LINES)
    letter = letters.enter_paper_letter(session, settings, world.facilitator, scan.id, TEXT)
    assert letter.state == LetterState.IN_REVIEW
    assert letter.author.role == Role.OFFENDER
    assert paper_in.scan_of_letter(session, letter).id == scan.id
    assert _details(session, "letter.entered_from_paper") == [{"version": 1, "scan": scan.id}]
    with pytest.raises(InvalidTransition, match="already been typed in"):
        letters.enter_paper_letter(session, settings, world.facilitator, scan.id, TEXT)
    assert session.scalars(select(Letter).where(Letter.entered_by_id.is_not(None))).all() == [
        letter
    ]
    with pytest.raises(InvalidTransition, match="already been typed in"):
        paper_in.discard_scan(session, world.facilitator, world.case.id, scan.id)


def test_the_second_facilitator_must_confirm_the_scan_and_the_transcript_match(
    session, settings, world, sam
):
    letter = typed_from_paper(
        session, settings, world.facilitator, world.case.id, Role.OFFENDER, UNFLAGGED
    )
    claims.claim_for_review(session, sam, letter.id)
    with pytest.raises(InvalidInput, match="compared the typed letter with the scan") as refused:
        letters.approve_letter(session, settings, sam, letter.id)
    assert refused.value.field == "scan_checked"
    session.expire_all()
    assert session.get(Letter, letter.id).state == LetterState.IN_REVIEW
    assert _details(session, "letter.transcript_checked") == []
    letters.approve_letter(session, settings, sam, letter.id, scan_checked=True)
    scan = paper_in.scan_of_letter(session, letter)
    assert _details(session, "letter.transcript_checked") == [{"version": 1, "scan": scan.id}]
    assert session.get(Letter, letter.id).approved_by_id == sam.id


def test_the_typist_cannot_approve_even_having_checked(session, settings, world, sam):
    letter = typed_from_paper(
        session, settings, world.facilitator, world.case.id, Role.OFFENDER, TEXT
    )
    with pytest.raises(NotAllowed, match="another facilitator"):
        letters.approve_letter(session, settings, world.facilitator, letter.id, scan_checked=True)


def test_a_scan_is_for_its_own_case_staff_only(session, settings, world, two_cases):
    scan = received(session, world.facilitator, world.case.id, Role.OFFENDER, LINES)
    other = actor_for(session, settings, *OTHER["other_facilitator"][::2])
    for attempt in (
        lambda: paper_in.page_picture(session, other, scan.id, 1),
        lambda: paper_in.draft_transcript(session, other, world.case.id, scan.id),
        lambda: letters.enter_paper_letter(session, settings, other, scan.id, TEXT),
        lambda: paper_in.discard_scan(session, other, world.case.id, scan.id),
    ):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(NotFound):
        paper_in.page_picture(session, world.victim, scan.id, 1)


def test_a_scan_uploaded_in_error_is_discarded(session, world):
    scan = received(session, world.facilitator, world.case.id, Role.OFFENDER, LINES)
    assert paper_in.waiting_to_be_typed(session, world.facilitator, world.case.id) == [scan]
    paper_in.discard_scan(session, world.facilitator, world.case.id, scan.id)
    assert session.scalars(select(PaperScan)).all() == []
    assert _details(session, "case.paper_scan_discarded") == [{"scan": scan.id}]


def test_a_scan_is_resealed_when_the_case_key_changes_and_destroyed_with_the_case(
    session, settings, world, sam
):
    scan = received(session, world.facilitator, world.case.id, Role.OFFENDER, LINES)
    before = paper_in.page_picture(session, world.facilitator, scan.id, 1)
    sealed_before = session.get(PaperScan, scan.id).sealed_key
    access.remove_facilitator(session, world.facilitator, world.case.id, sam.id)
    session.expire_all()
    assert session.get(PaperScan, scan.id).sealed_key != sealed_before
    assert paper_in.page_picture(session, world.facilitator, scan.id, 1) == before
    cases.close_case(session, world.facilitator, world.case.id, "completed")
    cases.shred_case(session, world.case.id)
    session.expire_all()
    shredded = session.get(PaperScan, scan.id)
    assert shredded.ciphertext is None and shredded.sealed_key is None
    with pytest.raises(NotFound):
        paper_in.page_picture(session, world.facilitator, scan.id, 1)


def test_a_typing_that_does_not_match_is_typed_again_and_checked_by_the_other(
    session, settings, world, sam
):
    """The checker finds a word typed wrong. The writer is on paper, so nobody can be asked
    to change it: the checker types it again, becomes its typist, and the first typist
    checks the new typing against the scan."""
    letter = typed_from_paper(
        session, settings, world.facilitator, world.case.id, Role.OFFENDER, "I am sory."
    )
    claims.claim_for_review(session, sam, letter.id)
    version = letters.correct_transcript(session, settings, sam, letter.id, "I am sorry.")
    assert version.number == 2
    session.expire_all()
    corrected = session.get(Letter, letter.id)
    assert corrected.state == LetterState.IN_REVIEW
    assert corrected.entered_by_id == sam.id
    assert corrected.claimed_by_id is None
    assert _details(session, "letter.transcript_corrected") == [{"version": 2}]
    with pytest.raises(NotAllowed, match="another facilitator"):
        letters.approve_letter(session, settings, sam, letter.id, scan_checked=True)
    claims.claim_for_review(session, world.facilitator, letter.id)
    assert letters.approve_letter(
        session, settings, world.facilitator, letter.id, scan_checked=True
    )
    assert _details(session, "letter.transcript_checked") == [
        {"version": 2, "scan": paper_in.scan_of_letter(session, corrected).id}
    ]


def test_only_a_paper_letter_in_review_is_typed_again(session, settings, world):
    written = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, written.id)
    with pytest.raises(InvalidTransition, match="typed in from paper"):
        letters.correct_transcript(session, settings, world.facilitator, written.id, "Other.")
    assert _details(session, "letter.transcript_corrected") == []
