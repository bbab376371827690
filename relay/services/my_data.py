"""A person's own data (UK GDPR, the right of access; issue 11, item 5).

Everything Relay holds about one party, gathered on request and never stored: their
account, and for each case they are in, their choices, every version of every letter they
wrote, the letters delivered to them and the dates of what happened. The view renders it
as a page they can open and print, beside the same data as JSON, in one zip.

The file shows them only what their own pages would: the other person by the name set for
the case (never their real name or address), no case reference, offence category, risk
assessment, gate evidence or staff note, no draft of the other person's and no letter not
delivered to them; and whether a letter of theirs was delivered or read only as the
recipient allowed (`states.shown_to_author`). A delivered letter they have not opened yet,
or asked to hold out of sight, is listed without its text: opening a letter is their own
deliberate step (docs/rules.md, "Receiving on the recipient's terms").

A party with an account asks for their own (their own seals open it). An administrator
answers a subject access request for a party, typically one on paper with no account,
through the case key: so only once they have added themselves to the case (audited and
shown to its facilitators, `access.join_case`), and never with a draft its writer did not
send, which no member of staff may read.
"""

import io
import json
import zipfile
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay import crypto
from relay.database import transaction
from relay.models import AuditEntry
from relay.models import Case
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import Letter
from relay.models import LetterVersion
from relay.models import Role
from relay.models import User
from relay.models import UserSession
from relay.models import VersionKind
from relay.models import utcnow
from relay.services import content_keys
from relay.services import keys
from relay.services import next_steps
from relay.services import notes
from relay.services import states
from relay.services import survey
from relay.services import timeline
from relay.services.actor import Actor
from relay.services.cases import PARTY_ROLES
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound

FILE_NAME = "relay-my-data"

AFTER_A_RESET = (
    "This was sealed to the keys you had before your password was reset without your "
    "recovery code, so it cannot be opened now. Your facilitator can restore your access "
    "after checking with you; then ask for this file again"
)
NO_LONGER_HELD = "Relay no longer holds this text: it was deleted when the case's records ended"
NOT_OPENED = (
    "You have not opened this letter yet, so its words are not included. Open it on "
    "Relay when you are ready; then ask for this file again"
)
HELD_OUT_OF_SIGHT = (
    "You asked for this letter to be held out of sight, so its words are not included. "
    "Show it again on Relay to include them"
)
COPY_DESTROYED = "You destroyed your copy of this letter: nobody can open it for you again"

_KIND = {
    VersionKind.AUTHOR: "written by you",
    VersionKind.REDACTION: "a change your facilitator suggested",
}


@dataclass(frozen=True)
class Event:
    at: datetime | date
    what: str


@dataclass(frozen=True)
class Version:
    number: int
    kind: str
    written_at: datetime
    sent_at: datetime | None
    text: str | None
    not_included: str | None = None


@dataclass(frozen=True)
class WrittenLetter:
    to: str
    started_at: datetime
    sent_at: datetime | None
    state: str
    approved_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    typed_from_paper: bool
    facilitator_note: str | None
    versions: list[Version]


@dataclass(frozen=True)
class ReceivedLetter:
    from_: str
    delivered_at: datetime | None
    read_at: datetime | None
    text: str | None
    not_included: str | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str


@dataclass(frozen=True)
class Survey:
    """Their answers to the survey at closing, and their comment, as they gave them."""

    answered_at: datetime
    entered_by_your_facilitator_from_paper: bool
    answers: list[Answer]
    comment: str | None
    not_included: str | None = None


@dataclass(frozen=True)
class CaseData:
    your_name_in_the_case: str
    you_are: str
    exchange: str
    on_paper: bool
    helped_by: str | None
    receiving_letters: str
    tell_writer_when_read: bool
    your_conditions: str | None
    pause_reason: str | None
    letters_you_wrote: list[WrittenLetter]
    letters_to_you: list[ReceivedLetter]
    what_happened: list[Event]
    your_survey: Survey | None = None


@dataclass(frozen=True)
class Account:
    name: str
    email: str
    role: str
    created_at: datetime
    e_mail_notices: str
    second_step_set_up: bool
    sign_ins: list[Event]


@dataclass(frozen=True)
class MyData:
    generated_at: datetime
    produced_for: str
    account: Account | None
    cases: list[CaseData]
    your_actions: list[Event] = field(default_factory=list)


# The state of the exchange as a party's case page words it.
_EXCHANGE = {
    CaseState.ACTIVE: "Letters are being exchanged",
    CaseState.PAUSED: "Paused by your facilitator",
    CaseState.CLOSED: "Ended",
}


class _Opener:
    """Opens a version or note for the file: with the person's own seal, or for an
    administrator through the case key. Says why when it cannot, rather than failing."""

    def __init__(self, session: Session, actor: Actor, own: bool):
        self.session = session
        self.actor = actor
        self.own = own

    def version(self, version: LetterVersion) -> tuple[str | None, str | None]:
        try:
            if self.own:
                content_key = content_keys.open_own(
                    self.session, version, self.actor.user, self.actor.private_key
                )
            else:
                content_key = content_keys.open_through_case(
                    self.session,
                    version,
                    keys.case_key_of(self.session, version.letter.case_id),
                    self.actor.case_private_key(self.session, version.letter.case_id),
                )
            return content_keys.decrypt_text(version, content_key), None
        except crypto.DecryptionFailed:
            return None, AFTER_A_RESET
        except NotFound:
            return None, NO_LONGER_HELD


def _written(opener: _Opener, letter: Letter, other: str) -> WrittenLetter:
    shown = states.shown_to_author(letter)
    told = letter.recipient.tell_author_when_read
    versions = []
    for version in letter.versions:
        text, why = opener.version(version)
        versions.append(
            Version(
                number=version.number,
                kind="typed from your letter on paper"
                if letter.entered_by_id is not None and version.kind == VersionKind.AUTHOR
                else _KIND[version.kind],
                written_at=version.created_at,
                sent_at=version.submitted_at,
                text=text,
                not_included=why,
            )
        )
    return WrittenLetter(
        to=other,
        started_at=letter.created_at,
        sent_at=letter.submitted_at,
        state=shown.label,
        approved_at=letter.approved_at,
        delivered_at=letter.delivered_at if told else None,
        read_at=letter.read_at if told else None,
        typed_from_paper=letter.entered_by_id is not None,
        facilitator_note=notes.letter_note(opener.session, opener.actor, letter),
        versions=versions,
    )


def _received(opener: _Opener, letter: Letter) -> ReceivedLetter:
    def listed(text: str | None = None, why: str | None = None) -> ReceivedLetter:
        return ReceivedLetter(
            letter.author.display_name, letter.delivered_at, letter.read_at, text, why
        )

    if letter.recipient_copy_destroyed_at is not None:
        return listed(why=COPY_DESTROYED)
    # Opening a letter is the recipient's own step, in either file; a letter posted to a
    # party on paper reached them in their hand.
    if letter.read_at is None and not letter.recipient.on_paper:
        return listed(why=NOT_OPENED)
    if letter.hidden_by_recipient:
        return listed(why=HELD_OUT_OF_SIGHT)
    version = opener.session.get(LetterVersion, letter.approved_version_id)
    return listed(*opener.version(version))


def _events(place: CaseParticipant, written: list[WrittenLetter], received) -> list[Event]:
    found = []
    if place.consent_recorded_at:
        found.append(Event(place.consent_recorded_at, "Your consent to take part was recorded"))
    if place.admission_recorded_at:
        found.append(Event(place.admission_recorded_at, "Your admission of the harm was recorded"))
    for letter in written:
        found.append(Event(letter.started_at, f"You started a letter to {letter.to}"))
        if letter.sent_at:
            found.append(Event(letter.sent_at, f"You sent a letter to {letter.to} for review"))
        if letter.approved_at:
            found.append(Event(letter.approved_at, f"Your letter to {letter.to} was approved"))
        if letter.delivered_at:
            found.append(Event(letter.delivered_at, f"Your letter to {letter.to} was delivered"))
        if letter.read_at:
            found.append(Event(letter.read_at, f"Your letter to {letter.to} was read"))
    for letter in received:
        if letter.delivered_at:
            found.append(Event(letter.delivered_at, f"A letter from {letter.from_} reached you"))
        if letter.read_at:
            found.append(Event(letter.read_at, f"You first opened a letter from {letter.from_}"))
    if place.withdrawn_at:
        found.append(Event(place.withdrawn_at, "You stopped taking part"))
    if place.case.closed_at:
        found.append(Event(place.case.closed_at, "The exchange ended"))
    return sorted(found, key=lambda event: _instant(event.at))


def _survey(opener: _Opener, place: CaseParticipant) -> Survey | None:
    """Their own survey: the comment opened with their own seal (an administrator's file
    through the case key, as the letters). Never the other party's."""
    answered = survey.answered_by(opener.session, opener.actor, place)
    if answered is None:
        return None
    why = None
    if answered.had_comment and answered.comment is None:
        why = NO_LONGER_HELD if place.case.shredded_at is not None else AFTER_A_RESET
    return Survey(
        answered_at=answered.answered_at,
        entered_by_your_facilitator_from_paper=answered.from_paper,
        answers=[Answer(question, answer) for question, answer in answered.answers],
        comment=answered.comment,
        not_included=why,
    )


def _instant(value: datetime | date) -> str:
    return value.isoformat()


def _case(session: Session, opener: _Opener, place: CaseParticipant) -> CaseData:
    case = place.case
    others = [p for p in case.participants if p.role in PARTY_ROLES and p.id != place.id]
    other = others[0].display_name if others else "the other person"
    mine = session.scalars(
        select(Letter).where(Letter.author_id == place.id).order_by(Letter.id)
    ).all()
    written = [
        _written(opener, letter, other)
        for letter in mine
        # Staff never read a draft never sent; an administrator's file leaves it out.
        if opener.own or not states.private_to_author(letter)
    ]
    to_me = session.scalars(
        select(Letter)
        .where(Letter.recipient_id == place.id, Letter.state.in_(states.DELIVERED))
        .order_by(Letter.id)
    ).all()
    received = [_received(opener, letter) for letter in to_me]
    return CaseData(
        your_name_in_the_case=place.display_name,
        you_are=place.role.label,
        exchange=_EXCHANGE.get(case.state, "Being prepared by your facilitator"),
        on_paper=place.on_paper,
        helped_by=next_steps.helped_by(session, [case.id])[case.id],
        receiving_letters=place.receive_preference.label,
        tell_writer_when_read=place.tell_author_when_read,
        your_conditions=notes.conditions_of(session, opener.actor, place),
        pause_reason=notes.pause_reason(session, opener.actor, case)
        if case.state == CaseState.PAUSED
        else None,
        letters_you_wrote=written,
        letters_to_you=received,
        what_happened=_events(place, written, received),
        your_survey=_survey(opener, place),
    )


def _account(session: Session, user: User) -> Account:
    sign_ins = session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
    ).all()
    return Account(
        name=user.name,
        email=user.email,
        role=user.role.label,
        created_at=user.created_at,
        e_mail_notices=user.notice_preference.value,
        second_step_set_up=user.totp_sealed_secret is not None,
        sign_ins=[Event(s.created_at, "Signed in") for s in sign_ins],
    )


# The account's own acts, which the case timeline's words do not cover.
_ACCOUNT_WORDS = {
    "sign_in": "Signed in",
    "sign_out": "Signed out",
    "sign_out.everywhere": "Signed out everywhere",
    "session.ended_by_owner": "Ended a sign-in on another device",
    "password_reset.requested": "Asked for a password reset link",  # nosec B105: words
    "second_factor.enrolled": "Set up a second sign-in step",
    "second_factor.changed": "Changed their second sign-in step",
    "second_factor.backup_code_used": "Used a backup code to sign in",
}


def _own_actions(session: Session, user: User) -> list[Event]:
    """What the trail records the person doing themselves: their own acts, which they
    know of, in the trail's words; never its details, nor anyone else's acts."""
    rows = session.execute(
        select(AuditEntry.at, AuditEntry.action)
        .where(AuditEntry.actor_id == user.id)
        .order_by(AuditEntry.sequence)
    ).all()
    return [
        Event(datetime.fromisoformat(at), _ACCOUNT_WORDS.get(action) or timeline.words_for(action))
        for at, action in rows
    ]


def for_myself(session: Session, actor: Actor) -> MyData:
    """Everything Relay holds about the signed-in party, from their own seals. Audited
    (`account.data_exported`, no content); works after a reset, saying what cannot be
    opened."""
    with transaction(session):
        if actor.role not in PARTY_ROLES:
            raise NotFound("data")
        opener = _Opener(session, actor, own=True)
        places = session.scalars(
            select(CaseParticipant)
            .where(CaseParticipant.user_id == actor.id)
            .order_by(CaseParticipant.id)
        ).all()
        data = MyData(
            generated_at=utcnow(),
            produced_for="you, at your request",
            account=_account(session, actor.user),
            cases=[_case(session, opener, place) for place in places],
            your_actions=_own_actions(session, actor.user),
        )
        audit.record(
            session, "account.data_exported", actor_id=actor.id, details={"cases": len(places)}
        )
        return data


def subject(session: Session, actor: Actor, case_id: int, role: str) -> CaseParticipant:
    """The party of the case a subject access request is for, for an administrator."""
    if actor.role != Role.ADMINISTRATOR:
        raise NotFound("case")
    case = session.get(Case, case_id)
    wanted = Role(role) if role in {r.value for r in PARTY_ROLES} else None
    place = next((p for p in case.participants if p.role == wanted), None) if case else None
    if place is None:
        raise NotFound("person")
    return place


def can_open(session: Session, actor: Actor, case_id: int) -> bool:
    """Has the administrator added themselves to the case, so that its letters open?"""
    return keys.holds_case_key(session, actor.user, case_id)


def for_subject_access(session: Session, actor: Actor, case_id: int, role: str) -> MyData:
    """The same file for one party of a case, produced by an administrator through the
    case key. Audited with who produced it and for whom (`case.personal_data_exported`)."""
    with transaction(session):
        place = subject(session, actor, case_id, role)
        if not can_open(session, actor, case_id):
            raise NotAllowed(
                "To produce this file, add yourself to the case on its page first, so that "
                "its letters open. Its facilitators will see that you did"
            )
        actor.case_private_key(session, case_id)  # refused before anything is gathered
        opener = _Opener(session, actor, own=False)
        user = session.get(User, place.user_id) if place.user_id else None
        data = MyData(
            generated_at=utcnow(),
            produced_for="a subject access request, by an administrator of the service",
            account=_account(session, user) if user else None,
            cases=[_case(session, opener, place)],
            your_actions=_own_actions(session, user) if user else [],
        )
        audit.record(
            session,
            "case.personal_data_exported",
            actor_id=actor.id,
            case_id=case_id,
            details={"participant": place.id},
        )
        return data


# --- the file ------------------------------------------------------------------------------


def _plain(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def as_dict(data: MyData) -> dict:
    found = asdict(data)
    for case in found["cases"]:
        for letter in case["letters_to_you"]:
            letter["from"] = letter.pop("from_")
    return found


def as_json(data: MyData) -> str:
    return json.dumps(as_dict(data), default=_plain, indent=2, ensure_ascii=False)


def packaged(data: MyData, page: str) -> bytes:
    """One zip, made in memory: the page to open and print, and the same data as JSON."""
    buffer = io.BytesIO()
    stamp = data.generated_at.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in ((f"{FILE_NAME}.html", page), (f"{FILE_NAME}.json", as_json(data))):
            info = zipfile.ZipInfo(name, stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()
