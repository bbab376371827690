"""A party on paper through the pages (issue 10, item 1): added on the case page with no
e-mail address, their letter listed to print and post beside the queue, and recorded as
reached them on the letter's page, with errors next to the fields."""

import io
import re
from datetime import date
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import CaseParticipant
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.services import letters
from tests import paper
from tests.paper import HARMED


def _state(session, letter_id: int) -> LetterState:
    session.expire_all()
    return session.get(Letter, letter_id).state


def test_a_facilitator_adds_a_party_on_paper_and_posts_them_a_letter(
    client, auth, session, settings, world
):
    fran = world.facilitator
    case_id = paper.case_with_pat(session, settings, fran, "RJ-PAPER")
    auth.sign_in("facilitator")

    page = client.get(f"/cases/{case_id}").text
    assert f'href="/cases/{case_id}/on-paper">Add someone who takes part on paper</a>' in page
    refused = client.post(f"/cases/{case_id}/on-paper", data={"role": "offender"})
    assert refused.status_code == 200
    assert '<a href="#display_name">Enter the name the other person will see</a>' in refused.text
    added = client.post(
        f"/cases/{case_id}/on-paper", data={"role": "offender", "display_name": "Lee"}
    )
    assert added.status_code == 302
    page = client.get(f"/cases/{case_id}").text
    assert "Lee takes part on paper" in page
    assert re.search(
        r"Person responsible: shown to the other person as “Lee”\s*– takes part on paper", page
    )
    session.expire_all()
    inmate = session.scalar(
        select(CaseParticipant).where(
            CaseParticipant.case_id == case_id, CaseParticipant.role == Role.OFFENDER
        )
    )
    assert (inmate.on_paper, inmate.user_id) == (True, None)

    paper.started(session, fran, case_id)
    harmed = paper.pat_signed_in(session, settings)
    letter = letters.save_draft(session, harmed, case_id, None, "Why our house?")
    letters.submit_letter(session, settings, harmed, letter.id)
    letters.approve_letter(session, settings, fran, letter.id)

    queue = client.get("/review/").text
    assert '<h2 id="to-post">Letters to print and post</h2>' in queue
    assert f"Letter {letter.id} in case RJ-PAPER</a>,\n      to the person responsible" in queue

    review = client.get(f"/review/letters/{letter.id}").text
    assert "The recipient takes part on paper" in review
    # The letter to print: made on request, kept by no cache, holding only what Lee may see.
    assert f'href="/review/letters/{letter.id}/printed.pdf" download>' in review
    printed = client.get(f"/review/letters/{letter.id}/printed.pdf")
    assert printed.status_code == 200
    assert printed.mimetype == "application/pdf"
    assert printed.headers["Cache-Control"] == "no-store"
    words = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(printed.data)).pages)
    for shown in ("Why our house?", "Pat", "Lee", f"Relay letter {letter.id}"):
        assert shown in words
    for hidden in ("RJ-PAPER", "robbery", HARMED[1], HARMED[0]):
        assert hidden not in words
    (entry,) = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "letter.printed", AuditEntry.letter_id == letter.id
        )
    ).all()
    assert entry.actor_id == fran.id
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    future = client.post(
        f"/review/letters/{letter.id}/delivered-on-paper", data={"how": "posted", "on": tomorrow}
    )
    assert future.status_code == 200
    assert '<a href="#on">The day cannot be in the future</a>' in future.text
    assert '<input checked class="choice__input" id="how-0" name="how"' in future.text
    assert _state(session, letter.id) == LetterState.APPROVED

    posted = client.post(
        f"/review/letters/{letter.id}/delivered-on-paper",
        data={"how": "posted", "on": date.today().isoformat()},
    )
    assert posted.status_code == 302
    assert _state(session, letter.id) == LetterState.DELIVERED
    assert "Letters to print and post" not in client.get("/review/").text


def test_only_a_letter_to_a_party_on_paper_is_printed(client, auth, session, settings, world):
    letter = letters.save_draft(session, world.offender, world.case.id, None, "I am sorry.")
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.approve_letter(session, settings, world.facilitator, letter.id)
    auth.sign_in("facilitator")
    assert client.get(f"/review/letters/{letter.id}/printed.pdf").status_code == 409
    assert "Download the letter to print" not in client.get(f"/review/letters/{letter.id}").text
