"""What a party is told happens next, and who helps them (issue 9, item 8).

The "what happens next" line under each letter's state, for its author and for its
recipient, is worded here and nowhere else: a page shows the line, it never composes one.

The author's line is worded from `states.shown_to_author`, the state they are shown, and
from nothing the recipient keeps to themselves: after approval it is the same whether the
letter waits (for a "not before" date, or for the recipient to choose to receive) or has
been delivered or read, unless the recipient chose to tell the author (docs/rules.md,
"Receiving on the recipient's terms"). A recipient is told only of letters that have
reached them: a letter still on its way has no line for them at all.

The facilitators a party sees are named by their first name only: never a surname or an
e-mail address, which a party has no need of and a facilitator may not want known.
"""

import enum
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterState
from relay.models import Role
from relay.models import User
from relay.services import states

S = LetterState
C = CaseState


class Side(enum.StrEnum):
    AUTHOR = "author"
    RECIPIENT = "recipient"


def side_of(letter: Letter, place: CaseParticipant) -> Side:
    """Whether `place` (a party's place in the case) wrote `letter` or receives it."""
    for side, person in ((Side.AUTHOR, letter.author), (Side.RECIPIENT, letter.recipient)):
        if place is person or (place.id is not None and place.id == person.id):
            return side
    raise ValueError("this person neither wrote nor receives this letter")


def next_step(letter: Letter, place: CaseParticipant) -> str | None:
    """What happens next to `letter`, in plain words, for the party at `place`: its author
    or its recipient. None for a recipient when the letter has not reached them."""
    if side_of(letter, place) == Side.AUTHOR:
        return _for_author(letter)
    return _for_recipient(letter)


# --- the author ---------------------------------------------------------------------------

_APPROVED = (
    "Your facilitator has approved your letter. You will not be told when it is passed on "
    "or read unless {name} chooses to tell you. If you want to stop it, ask your facilitator."
)
_APPROVED_ENDED = (
    "Your facilitator approved your letter. The exchange is over, so it can no longer be stopped."
)


def _for_author(letter: Letter) -> str:
    # Only the state the author is shown: after approval, the same for waiting and delivered
    # unless the recipient allows it (states.shown_to_author).
    state = states.shown_to_author(letter)
    case_state = letter.case.state
    name = letter.recipient.display_name
    open_case = case_state in (C.ACTIVE, C.PAUSED)
    paused = case_state == C.PAUSED
    if state == S.DRAFT:
        if paused:
            return (
                "Only you can see this draft. You can carry on writing, and send it to your "
                "facilitator when they start the exchange again."
            )
        if not open_case:
            return "Only you can see this draft. It can no longer be sent."
        return (
            "Only you can see this draft. When you send it, your facilitator reads it before "
            "anything is passed on."
        )
    if state == S.IN_REVIEW:
        return (
            "Your facilitator is reading your letter. They will approve it, ask you for "
            "changes, or tell you why it cannot be passed on. You do not need to do anything "
            "for now."
        )
    if state == S.CHANGES_REQUESTED:
        if paused:
            return (
                "Change your letter when you are ready. You can send it again when your "
                "facilitator starts the exchange again."
            )
        return (
            "Change your letter and send it again when you are ready. Your facilitator reads "
            "it again before it goes any further."
        )
    if state == S.REDACTION_PROPOSED:
        return (
            "Your facilitator suggests some changes. If you accept them, your letter goes back "
            "to your facilitator with those changes. If not, you can change it yourself."
        )
    if state == S.APPROVED:
        return _APPROVED.format(name=name) if open_case else _APPROVED_ENDED
    if state == S.DELIVERED:
        # Shown only when the recipient chose to tell the author.
        if not open_case:
            return (
                f"Your letter has reached {name}. The exchange is over; they can still read "
                "it when they are ready."
            )
        return (
            f"Your letter has reached {name}. They will read it when they are ready. If you "
            "want to stop it before they open it, ask your facilitator."
        )
    if state == S.READ:
        return f"{name} has read your letter. Nothing more happens to it."
    if state == S.HELD:
        return (
            "Your facilitator is holding this letter, as you asked. It will not be passed on "
            "unless they let it go on. You can withdraw it if you want to stop it for good."
        )
    if state == S.REJECTED:
        if open_case:
            return (
                "Your facilitator will not pass this letter on. You can write a new letter, "
                "and talk to your facilitator about it first if you like."
            )
        return "Your facilitator did not pass this letter on. The exchange is over."
    if state == S.WITHDRAWN:
        return "You withdrew this letter. It will not be passed on, and nothing more happens to it."
    if state == S.STOPPED:
        return "The exchange ended before this letter was passed on, so it will not be passed on."
    raise ValueError(f"no words for a letter that is {state}")


# --- the recipient ------------------------------------------------------------------------


def _for_recipient(letter: Letter) -> str | None:
    if letter.state not in states.DELIVERED:
        return None  # not theirs yet: they are not told of it (a held one is no longer)
    if letter.recipient_copy_destroyed_at is not None:
        return "You destroyed your copy of this letter. It cannot be opened again."
    if letter.hidden_by_recipient:
        return (
            "You asked for this letter to be held out of sight. You can ask for it back at "
            "any time."
        )
    if letter.state == S.READ:
        return (
            "You have read this letter. It is yours to keep: you can read it again, hold it "
            "out of sight, or destroy your copy."
        )
    if letter.case.state == C.PAUSED:
        return states.PAUSED_FOR_NOW + "."
    told = (
        f"You chose to let {letter.author.display_name} know when you have read it."
        if letter.recipient.tell_author_when_read
        else f"{letter.author.display_name} is not told whether you open it."
    )
    return (
        "Your facilitator has approved this letter for you. It stays unopened until you "
        f"choose to open it, now or later. {told}"
    )


# --- who helps them -----------------------------------------------------------------------

# Written before a name in some accounts ("Dr Sam Okafor"): never a first name.
_TITLES = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "rev", "revd", "sir", "dame"}
)


def first_name(name: str) -> str | None:
    """The first name in an account's name, or None when it holds none that can be told
    apart from a surname: "Sam Okafor" and " Sam  Okafor " give "Sam"; "Okafor, Sam"
    (surname first) gives "Sam"; "Dr Sam Okafor" gives "Sam", but "Dr Okafor" and
    "S. Okafor" give None, never the surname."""
    if "," in name:
        surname, _, rest = name.partition(",")
        name = rest if rest.strip() else surname
    words = name.split()
    titled = False
    while words and words[0].lower().rstrip(".") in _TITLES:
        words, titled = words[1:], True
    if not words or (titled and len(words) == 1):
        return None
    first = words[0]
    if len(first.rstrip(".")) <= 1:
        return None  # an initial
    return first


def facilitator_first_names(session: Session, case_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each case's facilitators by first name, in the order they joined it: one query
    however many cases. A facilitator whose account is closed is not named."""
    wanted = sorted(set(case_ids))
    names: dict[int, list[str]] = {case_id: [] for case_id in wanted}
    if not wanted:
        return names
    rows = session.execute(
        select(CaseParticipant.case_id, User.name)
        .join(User, User.id == CaseParticipant.user_id)
        .where(
            CaseParticipant.case_id.in_(wanted),
            CaseParticipant.role == Role.FACILITATOR,
            User.disabled.is_(False),
        )
        .order_by(CaseParticipant.case_id, CaseParticipant.id)
    )
    for case_id, name in rows:
        first = first_name(name)
        if first is not None:
            names[case_id].append(first)
    return names


def your_facilitators(first_names: list[str]) -> str | None:
    """ "Your facilitator is Sam.", or "Your facilitators are Sam and Alex." """
    if not first_names:
        return None
    if len(first_names) == 1:
        return f"Your facilitator is {first_names[0]}."
    listed = ", ".join(first_names[:-1]) + f" and {first_names[-1]}"
    return f"Your facilitators are {listed}."


def helped_by(session: Session, case_ids: Iterable[int]) -> dict[int, str | None]:
    """For each case, the sentence that names a party's facilitators: one query."""
    return {
        case_id: your_facilitators(names)
        for case_id, names in facilitator_first_names(session, case_ids).items()
    }
