"""What a party is told happens next to each letter, and who their facilitator is
(issue 9, item 8): every letter state in every case state, for its author and for its
recipient, and what the author must never learn. No database: the models are built in
memory, as the pages hand them over."""

import itertools
from datetime import date

import pytest

from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterState
from relay.models import ReceivePreference
from relay.models import Role
from relay.models import utcnow
from relay.services import next_steps
from relay.services import states
from relay.services.next_steps import first_name
from relay.services.next_steps import next_step
from relay.services.next_steps import your_facilitators

S = LetterState
C = CaseState
AUTHOR_NAME, RECIPIENT_NAME = "Chris", "Jo"


def _letter(state: LetterState, case_state: CaseState = C.ACTIVE, **recipient) -> Letter:
    """A letter from the person responsible ("Chris") to the person harmed ("Jo")."""
    case = Case(reference="RJ-1", offence_category="burglary", state=case_state)
    author = CaseParticipant(id=1, case=case, role=Role.OFFENDER, display_name=AUTHOR_NAME)
    place = CaseParticipant(
        id=2,
        case=case,
        role=Role.VICTIM,
        display_name=RECIPIENT_NAME,
        receive_preference=recipient.pop("preference", ReceivePreference.RECEIVE),
        tell_author_when_read=recipient.pop("tell", False),
    )
    letter = Letter(case=case, author=author, recipient=place, state=state, **recipient)
    letter.hidden_by_recipient = letter.hidden_by_recipient or False
    return letter


EVERY = list(itertools.product(LetterState, CaseState))
ids = [f"{letter_state}-{case_state}" for letter_state, case_state in EVERY]


# --- every state, both sides ------------------------------------------------------------


@pytest.mark.parametrize(("letter_state", "case_state"), EVERY, ids=ids)
def test_the_author_is_told_what_happens_next_in_every_state(letter_state, case_state):
    letter = _letter(letter_state, case_state)
    line = next_step(letter, letter.author)
    assert line and line.endswith("."), line
    assert "{" not in line, line


@pytest.mark.parametrize(("letter_state", "case_state"), EVERY, ids=ids)
def test_the_recipient_is_told_only_of_a_letter_that_has_reached_them(letter_state, case_state):
    letter = _letter(letter_state, case_state)
    line = next_step(letter, letter.recipient)
    if letter_state in (S.DELIVERED, S.READ):
        assert line and line.endswith("."), line
    else:
        # Drafts, letters in review, approved and waiting, held back, stopped: the
        # recipient does not know of them, and no line tells them.
        assert line is None


# The words each state must say, for the author (the case active unless named).
AUTHOR_SAYS = [
    (S.DRAFT, C.ACTIVE, "Only you can see this draft. When you send it"),
    (S.DRAFT, C.PAUSED, "send it to your facilitator when they start the exchange again"),
    (S.IN_REVIEW, C.ACTIVE, "Your facilitator is reading your letter"),
    (S.IN_REVIEW, C.PAUSED, "You do not need to do anything for now"),
    (S.CHANGES_REQUESTED, C.ACTIVE, "Change your letter and send it again"),
    (S.CHANGES_REQUESTED, C.PAUSED, "send it again when your facilitator starts the exchange"),
    (S.REDACTION_PROPOSED, C.ACTIVE, "If you accept them, your letter goes back"),
    (S.APPROVED, C.ACTIVE, "If you want to stop it, ask your facilitator"),
    (S.APPROVED, C.PAUSED, "You will not be told when it is passed on or read unless Jo"),
    (S.APPROVED, C.CLOSED, "The exchange is over, so it can no longer be stopped"),
    (S.HELD, C.ACTIVE, "Your facilitator is holding this letter, as you asked"),
    (S.REJECTED, C.ACTIVE, "Your facilitator will not pass this letter on. You can write"),
    (S.REJECTED, C.CLOSED, "Your facilitator did not pass this letter on"),
    (S.WITHDRAWN, C.ACTIVE, "You withdrew this letter. It will not be passed on"),
    (S.STOPPED, C.CLOSED, "The exchange ended before this letter was passed on"),
]


@pytest.mark.parametrize(("letter_state", "case_state", "words"), AUTHOR_SAYS)
def test_the_authors_line_says_what_the_state_means(letter_state, case_state, words):
    letter = _letter(letter_state, case_state)
    assert words in next_step(letter, letter.author)


def test_a_paused_exchange_changes_what_the_author_can_do_next():
    for letter_state in (S.DRAFT, S.CHANGES_REQUESTED):
        active = _letter(letter_state, C.ACTIVE)
        paused = _letter(letter_state, C.PAUSED)
        assert next_step(active, active.author) != next_step(paused, paused.author)
        assert "the exchange again" in next_step(paused, paused.author)


# --- what the author must never learn ---------------------------------------------------

# Everything the recipient decides or the facilitator sets that the author is not told.
HIDDEN_FROM_THE_AUTHOR = [
    {"preference": preference, "deliver_not_before": not_before, **after}
    for preference in ReceivePreference
    for not_before in (None, date(2099, 1, 1))
    for after in (
        {},
        {"hidden_by_recipient": True},
        {"recipient_copy_destroyed_at": utcnow()},
    )
]


@pytest.mark.parametrize("case_state", [C.ACTIVE, C.PAUSED, C.CLOSED])
def test_after_approval_the_author_cannot_tell_waiting_from_delivered_or_read(case_state):
    """Unless the recipient chose to tell them: waiting for a "not before" date, for the
    recipient's choice (receive, only with the facilitator, not now), delivered, read,
    held out of sight or destroyed all read the same to the author."""
    lines = {
        next_step(letter, letter.author)
        for letter_state in (S.APPROVED, S.DELIVERED, S.READ)
        for hidden in HIDDEN_FROM_THE_AUTHOR
        for letter in [_letter(letter_state, case_state, tell=False, **hidden)]
    }
    assert len(lines) == 1, lines
    (line,) = lines
    for giveaway in ("not now", "chose", "not before", "delivered", "has read", "opened"):
        assert giveaway not in line.lower()


@pytest.mark.parametrize(("letter_state", "case_state"), EVERY, ids=ids)
def test_the_authors_line_never_depends_on_what_the_recipient_keeps_to_themselves(
    letter_state, case_state
):
    letter = _letter(letter_state, case_state)
    expected = next_step(letter, letter.author)
    for hidden in HIDDEN_FROM_THE_AUTHOR:
        other = _letter(letter_state, case_state, **hidden)
        assert next_step(other, other.author) == expected, hidden


@pytest.mark.parametrize("case_state", [C.ACTIVE, C.PAUSED])
def test_an_approved_letter_reads_the_same_whether_or_not_the_recipient_will_tell(case_state):
    """Before delivery the author cannot learn the recipient's setting from the line."""
    told = _letter(S.APPROVED, case_state, tell=True)
    untold = _letter(S.APPROVED, case_state, tell=False)
    assert next_step(told, told.author) == next_step(untold, untold.author)


def test_the_author_learns_of_delivery_and_reading_only_when_the_recipient_allows():
    delivered = _letter(S.DELIVERED, tell=True)
    read = _letter(S.READ, tell=True)
    assert "Your letter has reached Jo" in next_step(delivered, delivered.author)
    assert next_step(read, read.author) == "Jo has read your letter. Nothing more happens to it."
    for letter in (_letter(S.DELIVERED, tell=False), _letter(S.READ, tell=False)):
        line = next_step(letter, letter.author)
        assert "reached" not in line and "has read" not in line
        assert line == next_step(_letter(S.APPROVED), _letter(S.APPROVED).author)


# --- the recipient -----------------------------------------------------------------------


def test_a_delivered_letter_waits_for_its_recipient_and_says_who_is_told():
    untold = _letter(S.DELIVERED, tell=False)
    line = next_step(untold, untold.recipient)
    assert "It stays unopened until you choose to open it" in line
    assert "Chris is not told whether you open it." in line
    told = _letter(S.DELIVERED, tell=True)
    assert "You chose to let Chris know when you have read it." in next_step(told, told.recipient)


def test_while_paused_the_recipient_is_told_their_letter_waits_in_the_words_of_the_refusal():
    letter = _letter(S.DELIVERED, C.PAUSED)
    assert next_step(letter, letter.recipient) == states.PAUSED_FOR_NOW + "."
    # One already read may be read again while paused: its line says so.
    read = _letter(S.READ, C.PAUSED)
    assert "you can read it again" in next_step(read, read.recipient)


def test_the_recipients_own_choices_after_reading_are_what_they_are_told():
    hidden = _letter(S.READ, hidden_by_recipient=True)
    assert "held out of sight. You can ask for it back" in next_step(hidden, hidden.recipient)
    destroyed = _letter(S.READ, recipient_copy_destroyed_at=utcnow())
    assert "You destroyed your copy" in next_step(destroyed, destroyed.recipient)


@pytest.mark.parametrize("preference", list(ReceivePreference))
def test_an_approved_letter_has_no_line_for_its_recipient_whatever_they_chose(preference):
    letter = _letter(S.APPROVED, preference=preference, deliver_not_before=date(2099, 1, 1))
    assert next_step(letter, letter.recipient) is None


def test_someone_else_in_the_case_has_no_line():
    letter = _letter(S.IN_REVIEW)
    facilitator = CaseParticipant(id=3, case=letter.case, role=Role.FACILITATOR, display_name="F")
    with pytest.raises(ValueError, match="neither wrote nor receives"):
        next_step(letter, facilitator)


def test_the_side_is_found_by_the_place_in_the_case_not_by_the_object():
    letter = _letter(S.DELIVERED)
    same_place = CaseParticipant(id=letter.recipient.id, role=Role.VICTIM, display_name="Jo")
    assert next_steps.side_of(letter, same_place) == next_steps.Side.RECIPIENT


# --- the facilitator's first name -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Sam Okafor", "Sam"),
        ("Sam", "Sam"),
        ("  Sam   Okafor  ", "Sam"),
        ("Sam\tOkafor", "Sam"),
        ("Mary-Jane O'Neill", "Mary-Jane"),
        ("Siân Llywelyn ap Gruffudd", "Siân"),
        ("Okafor, Sam", "Sam"),
        ("Okafor,Sam Ade", "Sam"),
        ("Sam,", "Sam"),
        ("Dr Sam Okafor", "Sam"),
        ("Ms. Sam Okafor", "Sam"),
        ("Dr Okafor", None),  # a title and a surname: there is no first name to tell
        ("S. Okafor", None),  # an initial is not a name
        ("S Okafor", None),
        ("", None),
        ("   ", None),
        ("Dr", None),
    ],
)
def test_a_first_name_is_taken_from_the_account_name_and_never_a_surname(name, first):
    assert first_name(name) == first


@pytest.mark.parametrize(
    ("names", "line"),
    [
        ([], None),
        (["Sam"], "Your facilitator is Sam."),
        (["Sam", "Alex"], "Your facilitators are Sam and Alex."),
        (["Sam", "Alex", "Jo"], "Your facilitators are Sam, Alex and Jo."),
    ],
)
def test_the_facilitators_are_named_in_one_sentence(names, line):
    assert your_facilitators(names) == line
