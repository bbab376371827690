"""Every version of a letter stays as it was written, whatever the author and the
facilitator do in turn (issue "Nothing lost, nothing leaked", item 4)."""

from relay.models import LetterState
from relay.models import VersionKind
from relay.services import letters


def _texts_as_staff(session, world, letter_id):
    letter, shown = letters.read_for_review(session, world.facilitator, letter_id)
    return {version.number: text for version, text in shown}


def test_declining_then_editing_keeps_the_facilitators_version(session, settings, world):
    letter = letters.save_draft(session, world.offender, world.case.id, None, "I was on Elm Street")
    letters.submit_letter(session, settings, world.offender, letter.id)
    letters.propose_redaction(session, settings, world.facilitator, letter.id, "I was there", "")
    letters.decline_redaction(session, world.offender, letter.id)
    letters.save_draft(session, world.offender, world.case.id, letter.id, "I was nearby")
    session.expire_all()
    kinds = [(v.number, v.kind) for v in letter.versions]
    assert kinds == [(1, VersionKind.AUTHOR), (2, VersionKind.REDACTION), (3, VersionKind.AUTHOR)]
    letters.submit_letter(session, settings, world.offender, letter.id)
    assert _texts_as_staff(session, world, letter.id) == {
        1: "I was on Elm Street",
        2: "I was there",
        3: "I was nearby",
    }


# Which of the author's and the facilitator's moves each state allows (the table's own
# answer is tested in tests/pure/test_states.py); every path of six moves is tried.
NEXT = {
    LetterState.IN_REVIEW: {"suggest": LetterState.REDACTION_PROPOSED},
    LetterState.REDACTION_PROPOSED: {
        "decline": LetterState.CHANGES_REQUESTED,
        "accept": LetterState.IN_REVIEW,
    },
    LetterState.CHANGES_REQUESTED: {
        "edit": LetterState.CHANGES_REQUESTED,
        "submit": LetterState.IN_REVIEW,
    },
}


def _paths(state, length):
    if length == 0:
        yield ()
        return
    for step, after in NEXT[state].items():
        for rest in _paths(after, length - 1):
            yield (step, *rest)


def _do(step, session, settings, world, letter_id, text):
    if step == "suggest":
        letters.propose_redaction(session, settings, world.facilitator, letter_id, text, "")
    elif step == "decline":
        letters.decline_redaction(session, world.offender, letter_id)
    elif step == "accept":
        letters.accept_redaction(session, settings, world.offender, letter_id)
    elif step == "edit":
        letters.save_draft(session, world.offender, world.case.id, letter_id, text)
    else:
        letters.submit_letter(session, settings, world.offender, letter_id)


def _expected(steps):
    """The versions the moves must leave: (text, kind) by number."""
    written = {1: ("text 0", VersionKind.AUTHOR)}
    open_draft = False  # is the last version the author's, not yet sent?
    for number, step in enumerate(steps, start=1):
        text = f"text {number}"
        if step == "suggest":
            written[len(written) + 1] = (text, VersionKind.REDACTION)
        elif step == "edit":
            written[len(written) + (0 if open_draft else 1)] = (text, VersionKind.AUTHOR)
            open_draft = True
        elif step == "submit":
            open_draft = False
    return written


def test_any_sequence_keeps_every_version_and_the_right_difference(session, settings, world):
    paths = list(_paths(LetterState.IN_REVIEW, 6))
    assert len(paths) > 10
    for steps in paths:
        letter = letters.save_draft(session, world.offender, world.case.id, None, "text 0")
        letters.submit_letter(session, settings, world.offender, letter.id)
        for number, step in enumerate(steps, start=1):
            _do(step, session, settings, world, letter.id, f"text {number}")
        session.expire_all()
        letter = letters.letter_for_author(session, world.offender, letter.id)
        expected = _expected(steps)
        found = {
            v.number: (letters.author_text(session, world.offender, letter, v), v.kind)
            for v in letter.versions
        }
        assert found == expected, steps
        # The author compares a suggestion with their own last words, never with another
        # suggestion or an older text of theirs.
        if letter.state == LetterState.REDACTION_PROPOSED:
            base = letters.last_author_version(letter)
            assert all(v.kind == VersionKind.REDACTION for v in letter.versions[base.number :])
