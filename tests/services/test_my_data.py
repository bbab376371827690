"""A person's own data (issue 11, item 5): everything Relay holds about a party, gathered
for them alone, and for an administrator answering a subject access request; never a word
of what they may not see."""

import json

import pytest
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Role
from relay.models import utcnow
from relay.services import access
from relay.services import cases
from relay.services import claims
from relay.services import letters
from relay.services import my_data
from relay.services import password_reset
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from tests.conftest import PEOPLE
from tests.conftest import receive_letters
from tests.factories import actor_for
from tests.factories import approve_as_reviewed
from tests.paper import HARMED
from tests.paper import paper_case
from tests.paper import pat_signed_in
from tests.paper import started
from tests.paper import typed_from_paper
from tests.services.test_services import _reset_token

TO_JO = "Dear Jo, I am sorry for what I did. <script>alert(1)</script>"
CHANGED = "Dear Jo, I am truly sorry for what I did."
VICTIMS_DRAFT = "A draft only the person harmed has seen."
IN_REVIEW = "A letter from Jo still with the facilitator."
ASK = "Please leave out the last line."
STAFF_NOTE = "Staff only: spoke to probation about Olly."


@pytest.fixture
def exchanged(session, settings, world):
    """The offender wrote twice (sent, asked for changes, sent again) and the letter was
    approved and delivered to the victim; the victim has a draft never sent and a letter
    in review; the case has a staff note."""
    receive_letters(session, settings, world.victim, world.case.id, conditions="No contact")
    draft = letters.send_letter(session, settings, world.offender, world.case.id, None, TO_JO)
    claims.open_for_review(session, world.facilitator, draft.id)
    letters.request_changes(session, settings, world.facilitator, draft.id, ASK)
    letters.send_letter(session, settings, world.offender, world.case.id, draft.id, CHANGED)
    approve_as_reviewed(session, settings, world.facilitator, draft.id)
    letters.save_draft(session, world.victim, world.case.id, None, VICTIMS_DRAFT)
    in_review = letters.save_draft(session, world.victim, world.case.id, None, IN_REVIEW)
    letters.submit_letter(session, settings, world.victim, in_review.id)
    cases.add_case_note(session, world.facilitator, world.case.id, STAFF_NOTE)
    return world, draft.id


def _text(data: my_data.MyData) -> str:
    return my_data.as_json(data)


def test_the_writer_gets_every_version_they_wrote_and_their_account(session, exchanged):
    world, letter_id = exchanged
    data = my_data.for_myself(session, world.offender)
    found = json.loads(_text(data))
    assert found["account"]["email"] == PEOPLE["offender"][0]
    assert found["account"]["name"] == PEOPLE["offender"][1]
    (case,) = found["cases"]
    assert case["your_name_in_the_case"] == "Chris"
    (written,) = case["letters_you_wrote"]
    assert written["to"] == "Jo"
    assert [v["text"] for v in written["versions"]] == [TO_JO, CHANGED]
    # The recipient has not said the writer may know of delivery: "Approved", no more.
    assert written["state"] == "Approved"
    assert written["delivered_at"] is None
    assert written["facilitator_note"] == ASK
    # Their own acts from the trail, in words; never what staff did.
    actions = [event["what"] for event in found["your_actions"]]
    assert "Signed in" in actions and "Sent a letter for review" in actions
    assert not any("pprove" in what or "hanges" in what for what in actions)
    assert case["letters_to_you"] == []


def test_nothing_the_writer_may_not_see_is_in_their_file(session, exchanged):
    world, _letter_id = exchanged
    text = _text(my_data.for_myself(session, world.offender))
    for secret in (
        PEOPLE["victim"][1],  # the other person's real name
        PEOPLE["victim"][0],
        VICTIMS_DRAFT,  # a draft of the other party
        IN_REVIEW,  # a letter not delivered to them
        STAFF_NOTE,
        world.case.reference,  # staff-internal
        "burglary",  # the offence category is on no page of theirs
        "risk",
    ):
        assert secret not in text


def test_a_recipient_gets_a_delivered_letter_once_they_opened_it(session, settings, exchanged):
    world, letter_id = exchanged
    before = json.loads(_text(my_data.for_myself(session, world.victim)))
    (received,) = before["cases"][0]["letters_to_you"]
    assert received["from"] == "Chris"
    assert received["text"] is None
    assert "not opened" in received["not_included"]
    assert before["cases"][0]["your_conditions"] == "No contact"
    assert before["cases"][0]["receiving_letters"] == "as soon as they are approved"
    drafts = before["cases"][0]["letters_you_wrote"]
    assert {v["text"] for letter in drafts for v in letter["versions"]} == {
        VICTIMS_DRAFT,
        IN_REVIEW,
    }
    letters.open_letter(session, settings, world.victim, letter_id)
    after = json.loads(_text(my_data.for_myself(session, world.victim)))
    (received,) = after["cases"][0]["letters_to_you"]
    assert received["text"] == CHANGED  # the approved version only
    assert TO_JO not in _text(my_data.for_myself(session, world.victim))
    assert PEOPLE["offender"][1] not in _text(my_data.for_myself(session, world.victim))


def test_a_destroyed_copy_is_said_to_be_destroyed(session, settings, exchanged):
    world, letter_id = exchanged
    letters.open_letter(session, settings, world.victim, letter_id)
    letters.destroy_my_copy(session, world.victim, letter_id)
    found = json.loads(_text(my_data.for_myself(session, world.victim)))
    (received,) = found["cases"][0]["letters_to_you"]
    assert received["text"] is None
    assert "destroyed" in received["not_included"]
    assert CHANGED not in _text(my_data.for_myself(session, world.victim))


def test_a_version_sealed_before_a_reset_is_marked_not_a_crash(session, settings, exchanged):
    world, _letter_id = exchanged
    email, _name, _password = PEOPLE["offender"]
    token = _reset_token(session, settings, email)
    password_reset.reset_password_without_code(
        session, settings, token=token, new_password="a brand new phrase"
    )
    offender = actor_for(session, settings, email, "a brand new phrase")
    found = json.loads(_text(my_data.for_myself(session, offender)))
    (written,) = found["cases"][0]["letters_you_wrote"]
    assert [v["text"] for v in written["versions"]] == [None, None]
    assert all("recovery code" in v["not_included"] for v in written["versions"])
    assert found["account"]["email"] == email


def test_the_export_is_audited_without_content(session, exchanged):
    world, _letter_id = exchanged
    my_data.for_myself(session, world.offender)
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "account.data_exported")
    ).one()
    assert entry.actor_id == world.offender.id
    assert entry.case_id is None
    assert CHANGED not in entry.details and "Dear" not in entry.details


def test_staff_have_no_file_of_their_own(session, world):
    with pytest.raises(NotFound):
        my_data.for_myself(session, world.facilitator)


def test_another_case_is_in_nobody_elses_file(session, settings, world, exchanged):
    case_id, _lee = paper_case(session, settings, world.facilitator)
    started(session, world.facilitator, case_id)
    pat = pat_signed_in(session, settings)
    letters.save_draft(session, pat, case_id, None, "Pat's own draft to Lee.")
    assert "Pat's own draft" not in _text(my_data.for_myself(session, world.victim))
    pats = json.loads(_text(my_data.for_myself(session, pat)))
    assert len(pats["cases"]) == 1
    assert CHANGED not in json.dumps(pats)


@pytest.fixture
def lee_on_paper(session, settings, world):
    """Lee, in prison, on paper: a letter typed from his paper, and Pat's letter to him
    posted; Pat also has a draft never sent."""
    case_id, lee = paper_case(session, settings, world.facilitator)
    started(session, world.facilitator, case_id)
    typed_from_paper(session, settings, world.facilitator, case_id, Role.OFFENDER, "From Lee.")
    pat = pat_signed_in(session, settings)
    to_lee = letters.send_letter(session, settings, pat, case_id, None, "Pat writes to Lee.")
    approve_as_reviewed(session, settings, world.facilitator, to_lee.id)
    letters.deliver_on_paper(
        session, world.facilitator, to_lee.id, how="posted", on=utcnow().date()
    )
    letters.save_draft(session, pat, case_id, None, "Pat's private draft.")
    return case_id, lee


def test_an_administrator_answers_a_request_for_a_party_on_paper(session, world, lee_on_paper):
    case_id, lee = lee_on_paper
    with pytest.raises(NotAllowed, match="add yourself"):
        my_data.for_subject_access(session, world.administrator, case_id, "offender")
    session.rollback()
    access.join_case(session, world.administrator, case_id)
    data = my_data.for_subject_access(session, world.administrator, case_id, "offender")
    found = json.loads(_text(data))
    assert found["account"] is None
    (case,) = found["cases"]
    assert case["on_paper"] is True
    assert [v["text"] for v in case["letters_you_wrote"][0]["versions"]] == ["From Lee."]
    assert case["letters_to_you"][0]["text"] == "Pat writes to Lee."
    text = _text(data)
    for secret in (HARMED[0], HARMED[1], "Pat's private draft.", "RJ-PAPER"):
        assert secret not in text
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "case.personal_data_exported")
    ).one()
    assert (entry.actor_id, entry.case_id) == (world.administrator.id, case_id)
    assert json.loads(entry.details) == {"participant": lee}


def test_only_an_administrator_answers_a_request(session, world, lee_on_paper):
    case_id, _lee = lee_on_paper
    for actor in (world.facilitator, world.victim):
        with pytest.raises((NotFound, NotAllowed)):
            my_data.for_subject_access(session, actor, case_id, "offender")
        session.rollback()


def test_the_file_is_a_zip_of_the_page_and_the_data(session, exchanged):
    world, _letter_id = exchanged
    data = my_data.for_myself(session, world.offender)
    packed = my_data.packaged(data, "<p>page</p>")
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        names = sorted(archive.namelist())
        assert names == ["relay-my-data.html", "relay-my-data.json"]
        assert json.loads(archive.read("relay-my-data.json")) == json.loads(my_data.as_json(data))


def test_an_administrators_file_holds_no_unsent_draft_and_no_unopened_letter(session, exchanged):
    world, _letter_id = exchanged
    access.join_case(session, world.administrator, world.case.id)
    data = my_data.for_subject_access(session, world.administrator, world.case.id, "victim")
    found = json.loads(_text(data))
    (case,) = found["cases"]
    # Staff never read a draft never sent: only the letter she sent is in it.
    assert [v["text"] for v in case["letters_you_wrote"][0]["versions"]] == [IN_REVIEW]
    assert len(case["letters_you_wrote"]) == 1
    (received,) = case["letters_to_you"]
    assert received["text"] is None and "not opened" in received["not_included"]
    assert VICTIMS_DRAFT not in _text(data) and CHANGED not in _text(data)
    assert found["account"]["email"] == PEOPLE["victim"][0]
