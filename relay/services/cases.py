"""Cases: opening, inviting the parties, the gates before activity, pause, close, withdraw."""

from dataclasses import dataclass
from datetime import date
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm import joinedload
from sqlalchemy.orm import selectinload

from relay import audit
from relay import keyring
from relay.database import transaction
from relay.models import AuditEntry
from relay.models import Case
from relay.models import CaseOutcome
from relay.models import CaseParticipant
from relay.models import CaseState
from relay.models import ExtraCare
from relay.models import Letter
from relay.models import LetterState
from relay.models import LetterVersion
from relay.models import OffenceCategory
from relay.models import ReceivePreference
from relay.models import RiskLevel
from relay.models import Role
from relay.models import User
from relay.models import utcnow
from relay.services import content_keys
from relay.services import keys
from relay.services import limits
from relay.services import notes
from relay.services import outbox
from relay.services import states
from relay.services.actor import Actor
from relay.services.delivery import deliver_due_letters
from relay.services.delivery import lock_case
from relay.services.delivery import lock_letters_of
from relay.services.delivery import stop_letters
from relay.services.errors import AccessPending
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from relay.services.invitations import GIVEN_TO_RECIPIENT
from relay.services.invitations import PrintedCode
from relay.services.invitations import create_invitation
from relay.services.invitations import issue_code
from relay.services.paging import Page
from relay.services.paging import page_of
from relay.services.settings import ServiceSettings
from relay.services.states import CaseAction

PARTY_ROLES = (Role.VICTIM, Role.OFFENDER)

GATES = ("consent", "admission", "risk", "no_contact")


def participant_of(case: Case, user_id: int) -> CaseParticipant | None:
    return next((p for p in case.participants if p.user_id == user_id), None)


def parties(case: Case, role: Role) -> list[CaseParticipant]:
    return [p for p in case.participants if p.role == role]


def require_keys_current(actor: Actor) -> None:
    """After a reset without the recovery code an account only proves someone read its
    mailbox: it acts on no case until a person who checked with them restores access."""
    if actor.user.keys_replaced_at is not None:
        who = "an administrator" if actor.role.is_staff else "your facilitator"
        raise AccessPending(
            "Your password was reset without your recovery code, so "
            f"{who} needs to restore your access before you can use your cases. "
            "They will check with you by phone or in person first"
        )


def case_for_staff(session: Session, actor: Actor, case_id: int) -> Case:
    """A case its facilitator (or any administrator) may manage; 404 for anyone else."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("case")
    require_keys_current(actor)
    if actor.role == Role.ADMINISTRATOR:
        return case
    mine = participant_of(case, actor.id)
    if actor.role != Role.FACILITATOR or mine is None or mine.role != Role.FACILITATOR:
        raise NotFound("case")
    return case


def _managing_case(session: Session, actor: Actor, case_id: int) -> Case:
    """The case, for a change by its facilitator: locked exclusively and read afresh."""
    case = case_for_staff(session, actor, case_id)
    if actor.role != Role.FACILITATOR:
        raise NotAllowed("Only the case's facilitator can do this")
    return lock_case(session, case.id, exclusive=True)


def case_for_party(
    session: Session, actor: Actor, case_id: int, *, lock: bool = False
) -> tuple[Case, CaseParticipant]:
    """The case of a party in it, with their place in it; locked when they will act on it."""
    case = lock_case(session, case_id, exclusive=False) if lock else session.get(Case, case_id)
    mine = participant_of(case, actor.id) if case is not None else None
    if mine is None or mine.role not in PARTY_ROLES:
        raise NotFound("case")
    require_keys_current(actor)
    return case, mine


def _cases_query(actor: Actor) -> Select:
    """A person's cases, newest first: every case for an administrator."""
    query = select(Case).order_by(Case.created_at.desc(), Case.id.desc())
    if actor.role == Role.ADMINISTRATOR:
        return query
    if actor.role.is_staff:
        # A facilitator may have thousands: EXISTS lets the database walk the cases newest
        # first (the index on created_at) and stop at a page, where SQLite, which keeps no
        # statistics, would start a join from their places and sort them all.
        return query.where(
            select(CaseParticipant.id)
            .where(CaseParticipant.case_id == Case.id, CaseParticipant.user_id == actor.id)
            .exists()
        )
    # A party's one or two cases, found from their places in them.
    return query.join(CaseParticipant).where(CaseParticipant.user_id == actor.id)


def _cases_count(actor: Actor) -> Select:
    """How many cases `_cases_query` lists, without reading them: a person has one place
    in each of their cases (unique per case and person)."""
    if actor.role == Role.ADMINISTRATOR:
        return select(func.count()).select_from(Case)
    return (
        select(func.count()).select_from(CaseParticipant).where(CaseParticipant.user_id == actor.id)
    )


def cases_for(session: Session, actor: Actor) -> list[Case]:
    """A party's own cases (one or two): the whole list."""
    return list(session.scalars(_cases_query(actor)))


def caseload(session: Session, actor: Actor, page: int = 1) -> Page[Case]:
    """A person's cases, newest first, a page at a time: a facilitator's (a service holds
    thousands), every case for an administrator, a party's own one or two."""
    return page_of(session, _cases_query(actor), page, _cases_count(actor))


@dataclass(frozen=True)
class CaseRow:
    """A case as the staff's case list shows it."""

    case: Case
    facilitators: list[str]
    last_activity: datetime | None  # the newest entry in its audit trail
    next_action: str


# What is left to do before the exchange can start, gate by gate (`gate_status`).
GATE_ACTIONS = {
    "parties": "Wait for both people to set up their accounts",
    "consent": "Record the consent of the person harmed",
    "admission": "Record the admission of responsibility",
    "risk": "Assess the risk for each person",
    "no_contact": "Check for a no-contact order",
}


def next_action(case: Case, waiting_for_review: int, today: date) -> str:
    """The one thing the case's facilitator should do next, in words."""
    if case.state == CaseState.CLOSED:
        return "None: the case is closed"
    if any(
        p.risk_review_on is not None and p.risk_review_on < today and p.withdrawn_at is None
        for p in case.participants
    ):
        return "Review a risk assessment (overdue)"
    if case.state == CaseState.REFERRED:
        return "Invite the person harmed and the person responsible"
    if case.state == CaseState.PREPARING:
        if not parties(case, Role.VICTIM) or not parties(case, Role.OFFENDER):
            return "Invite the person harmed and the person responsible"
        missing = next((gate for gate in gate_status(case) if not gate.done), None)
        return GATE_ACTIONS[missing.name] if missing else "Start the exchange"
    if case.state == CaseState.PAUSED:
        return "Resume or close the exchange (paused)"
    if waiting_for_review:
        return f"Review {waiting_for_review} {'letter' if waiting_for_review == 1 else 'letters'}"
    return "Nothing waiting on you"


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def case_list(
    session: Session,
    actor: Actor,
    *,
    page: int = 1,
    reference: str = "",
    state: str = "",
    today: date,
) -> Page[CaseRow]:
    """The staff's case list, newest first, a page at a time: every case of a facilitator
    (every case for an administrator) with its state, last activity, next action and
    facilitators, found by part of its reference and narrowed to one state. Five
    statements a page, however many cases: the count, the page, its people, the newest
    audit entry of each and the letters waiting for review in each."""
    query = _cases_query(actor)
    count = _cases_count(actor)
    reference = reference.strip()[: limits.REFERENCE_CHARACTERS]
    if reference or state:
        count = None  # counted from the narrowed list itself
    if reference:
        query = query.where(Case.reference.ilike(_like(reference), escape="\\"))
    if state:
        try:
            chosen = CaseState(state)
        except ValueError:
            raise InvalidInput("Choose a state from the list", "state") from None
        query = query.where(Case.state == chosen)
    found = page_of(session, query.options(selectinload(Case.participants)), page, count)
    ids = [case.id for case in found.items]
    newest = (
        select(func.max(AuditEntry.sequence))
        .where(AuditEntry.case_id.in_(ids))
        .group_by(AuditEntry.case_id)
    )
    last = dict(
        session.execute(
            select(AuditEntry.case_id, AuditEntry.at).where(AuditEntry.sequence.in_(newest))
        ).all()
    )
    waiting = dict(
        session.execute(
            select(Letter.case_id, func.count())
            .where(Letter.case_id.in_(ids), Letter.state == LetterState.IN_REVIEW)
            .group_by(Letter.case_id)
        ).all()
    )
    rows = [
        CaseRow(
            case,
            [p.display_name for p in parties(case, Role.FACILITATOR)],
            datetime.fromisoformat(last[case.id]) if case.id in last else None,
            next_action(case, waiting.get(case.id, 0), today),
        )
        for case in found.items
    ]
    return Page(rows, found.number, found.total)


def cases_to_withdraw_from(session: Session, actor: Actor) -> list[Case]:
    return [
        case
        for case in cases_for(session, actor)
        if CaseAction.WITHDRAW in states.allowed_case_actions(case, actor)
    ]


def open_case(session: Session, actor: Actor, *, reference: str, offence_category: str) -> Case:
    """A new case, its kind of offence one of `OffenceCategory` (stored as its value, so the
    dashboard counts cases and referrals by one list; older cases keep their free text,
    shown by `Case.offence_label`)."""
    with transaction(session):
        if actor.role != Role.FACILITATOR:
            raise NotAllowed("Only a facilitator can open a case")
        reference = reference.strip()
        if not reference:
            raise InvalidInput("Enter a case reference", "reference")
        try:
            kind = OffenceCategory(offence_category.strip())
        except ValueError:
            raise InvalidInput("Choose the kind of offence", "offence_category") from None
        case = Case(reference=reference, offence_category=kind.value, created_by_id=actor.id)
        case.participants.append(
            CaseParticipant(user_id=actor.id, role=Role.FACILITATOR, display_name=actor.user.name)
        )
        session.add(case)
        try:
            session.flush()
        except IntegrityError:
            raise InvalidInput("A case with this reference already exists", "reference") from None
        audit.record(session, "case.opened", actor_id=actor.id, case_id=case.id)
        keys.create_case_key(session, case, actor.user)
        return case


def _new_party(case: Case, role: Role, display_name: str) -> CaseParticipant:
    """The victim's or offender's place in the case; the case is locked for its change."""
    states.check_case(CaseAction.INVITE_PARTY, case)
    if role not in PARTY_ROLES:
        raise InvalidInput("Choose who you are inviting", "role")
    if parties(case, role):
        raise InvalidInput(f"This case already has a {role.label}", "role")
    if not display_name.strip():
        raise InvalidInput("Enter the name the other person will see", "display_name")
    participant = CaseParticipant(role=role, display_name=display_name.strip())
    if role == Role.VICTIM:
        # Nothing arrives unasked: a victim chooses to receive letters.
        participant.receive_preference = ReceivePreference.NOT_NOW
    case.participants.append(participant)
    states.move_case(case, CaseAction.INVITE_PARTY)
    return participant


def invite_party(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    case_id: int,
    *,
    role: Role,
    email: str,
    name: str,
    display_name: str,
) -> str:
    """Add the victim or offender to the case and e-mail their invitation; returns the code."""
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        participant = _new_party(case, role, display_name)
        session.flush()
        return create_invitation(
            session, settings, actor, email=email, name=name, role=role, participant=participant
        )


def add_paper_party(
    session: Session, actor: Actor, case_id: int, *, role: Role, display_name: str
) -> CaseParticipant:
    """Add the victim or offender as a party who takes part on paper: no e-mail and no
    account (many people in custody). They never block the case: their gates are recorded
    from the paper form, letters to them are printed and posted, letters from them are
    typed in from paper (docs/rules.md, "Paper and custody")."""
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        participant = _new_party(case, role, display_name)
        participant.on_paper = True
        session.flush()
        audit.record(
            session,
            "case.paper_party_added",
            actor_id=actor.id,
            case_id=case.id,
            details={"person": str(role)},
        )
        return participant


def _who_is_assessed(case: Case, participant_id: int) -> CaseParticipant:
    party = next((p for p in case.participants if p.id == participant_id), None)
    if party is None or party.role not in PARTY_ROLES:
        raise InvalidInput("Choose whose risk you are assessing", "participant")
    return party


def record_gate(
    session: Session,
    actor: Actor,
    case_id: int,
    gate: str,
    *,
    extra_care: bool = False,
    evidence: str = "",
) -> None:
    """Record consent, admission or the no-contact check, with who, when and the evidence
    (for the case's staff only, sealed like a letter). The gate's audit entry says which
    gate and who, never the evidence.

    "risk" records the same assessment for both people at once (the demo and the test
    world use it); the case page assesses each person apart, with `assess_risk`."""
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        states.check_case(CaseAction.RECORD_GATE, case)
        if gate not in GATES:
            raise InvalidInput("Choose what to record", "gate")
        now = utcnow()
        evidence = evidence.strip()[: limits.EVIDENCE_CHARACTERS]
        if gate == "consent":
            recorded = parties(case, Role.VICTIM)
            for victim in recorded:
                victim.consent_recorded_by_id, victim.consent_recorded_at = actor.id, now
        elif gate == "admission":
            recorded = parties(case, Role.OFFENDER)
            for offender in recorded:
                offender.admission_recorded_by_id, offender.admission_recorded_at = actor.id, now
        elif gate == "risk":
            recorded = [*parties(case, Role.VICTIM), *parties(case, Role.OFFENDER)]
            for party in recorded:
                party.risk_assessed_by_id, party.risk_assessed_at = actor.id, now
                party.risk_extra_care = extra_care
        else:
            recorded = []
            case.no_contact_checked_by_id, case.no_contact_checked_at = actor.id, now
        for place in [party.id for party in recorded] or [None]:
            notes.set_gate_evidence(
                session, case, gate, evidence, participant_id=place, written_by_id=actor.id
            )
        audit.record(
            session,
            f"case.gate.{gate}",
            actor_id=actor.id,
            case_id=case.id,
            details={"extra_care": extra_care} if gate == "risk" else None,
        )


def assess_risk(
    session: Session,
    actor: Actor,
    case_id: int,
    participant_id: int,
    *,
    level: str,
    categories: list[str],
    review_on: date | None,
    evidence: str = "",
    today: date,
) -> None:
    """One person's risk and suitability assessment: a level, the extra-care categories
    that apply and the date it is to be reviewed. Before the exchange starts it is one of
    the gates; while the case goes on it is the review, done again by that date.

    Any extra-care category marks the person (`risk_extra_care`), and with them the case:
    every letter then needs a second facilitator's approval (docs/rules.md rule 4)."""
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        states.check_case(CaseAction.KEEP_RECORDS, case)
        party = _who_is_assessed(case, participant_id)
        if party.risk_assessed_at is None:
            # The first assessment is a gate: recorded before the exchange starts.
            states.check_case(CaseAction.RECORD_GATE, case)
        try:
            chosen_level = RiskLevel(level)
        except ValueError:
            raise InvalidInput("Choose the level of risk", "level") from None
        try:
            chosen = sorted({ExtraCare(category) for category in categories})
        except ValueError:
            raise InvalidInput("Choose extra care only from the list", "categories") from None
        if review_on is None:
            raise InvalidInput("Enter the date to review this assessment", "review_on")
        if review_on <= today:
            raise InvalidInput("The review date must be in the future", "review_on")
        party.risk_assessed_by_id, party.risk_assessed_at = actor.id, utcnow()
        party.risk_level = chosen_level
        party.risk_categories = ",".join(chosen)
        party.risk_extra_care = bool(chosen)
        party.risk_review_on = review_on
        notes.set_gate_evidence(
            session,
            case,
            "risk",
            evidence.strip()[: limits.EVIDENCE_CHARACTERS],
            participant_id=party.id,
            written_by_id=actor.id,
        )
        audit.record(
            session,
            "case.gate.risk",
            actor_id=actor.id,
            case_id=case.id,
            details={
                "person": str(party.role),
                "level": str(chosen_level),
                "extra_care": party.risk_extra_care,
                "review_on": review_on.isoformat(),
            },
        )


def keeps_records(case: Case, actor: Actor) -> bool:
    """Whether this person writes the case's notes and reviews its risk assessments: a
    facilitator of the case, until it closes (states.CASE_ACTIONS, KEEP_RECORDS)."""
    return CaseAction.KEEP_RECORDS in states.allowed_case_actions(case, actor)


def may_assess_risk(case: Case, actor: Actor, party: CaseParticipant) -> bool:
    """A first assessment is a gate, recorded before the exchange starts; a review of one
    is kept up while the case goes on."""
    if party.risk_assessed_at is None:
        return CaseAction.RECORD_GATE in states.allowed_case_actions(case, actor)
    return keeps_records(case, actor)


def risk_categories_of(party: CaseParticipant) -> list[ExtraCare]:
    return [ExtraCare(value) for value in (party.risk_categories or "").split(",") if value]


def risk_reviews_due(
    session: Session, actor: Actor, today: date, page: int = 1
) -> Page[CaseParticipant]:
    """The people whose risk review date has passed, in the actor's open cases (every
    case for an administrator), the longest overdue first, a page at a time; each with
    its case loaded."""
    where = [
        CaseParticipant.risk_review_on < today,
        CaseParticipant.withdrawn_at.is_(None),
        Case.state != CaseState.CLOSED,
    ]
    if actor.role != Role.ADMINISTRATOR:
        mine = CaseParticipant.__table__.alias("mine")
        where.append(
            select(mine.c.id)
            .where(
                mine.c.case_id == CaseParticipant.case_id,
                mine.c.user_id == actor.id,
                mine.c.role == Role.FACILITATOR,
            )
            .exists()
        )
    query = (
        select(CaseParticipant)
        .join(Case, Case.id == CaseParticipant.case_id)
        .where(*where)
        # The index's own order (risk_review_on, id): read in order, no sort.
        .order_by(CaseParticipant.risk_review_on, CaseParticipant.id)
    )
    count = (
        select(func.count())
        .select_from(CaseParticipant)
        .join(Case, Case.id == CaseParticipant.case_id)
        .where(*where)
    )
    return page_of(session, query.options(joinedload(CaseParticipant.case)), page, count)


@dataclass(frozen=True)
class GateRecord:
    """Who recorded a gate, when, and the evidence they gave (for the case's staff)."""

    gate: str
    participant_id: int | None  # whose gate: None for the case's own (no-contact)
    about: str  # whose gate: "person harmed", ..., or "" for the case as a whole
    by: str
    at: datetime
    evidence: str | None  # None: none given, or not readable by this person


def gate_records(session: Session, actor: Actor, case: Case) -> list[GateRecord]:
    evidence = notes.gate_evidence_in(session, actor, case)
    made: list[tuple[str, CaseParticipant | None, int | None, datetime | None]] = []
    for party in case.participants:
        if party.role == Role.VICTIM:
            made.append(("consent", party, party.consent_recorded_by_id, party.consent_recorded_at))
        if party.role == Role.OFFENDER:
            made.append(
                ("admission", party, party.admission_recorded_by_id, party.admission_recorded_at)
            )
        if party.role in PARTY_ROLES:
            made.append(("risk", party, party.risk_assessed_by_id, party.risk_assessed_at))
    made.append(("no_contact", None, case.no_contact_checked_by_id, case.no_contact_checked_at))
    ids = {by for _gate, _party, by, at in made if at is not None}
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
    return [
        GateRecord(
            gate,
            party.id if party else None,
            party.role.label if party else "",
            names.get(by, "Someone"),
            at,
            evidence.get((gate, party.id if party else None)),
        )
        for gate, party, by, at in made
        if at is not None
    ]


@dataclass(frozen=True)
class GateStatus:
    name: str
    label: str
    done: bool


def gate_status(case: Case) -> list[GateStatus]:
    victims, offenders = parties(case, Role.VICTIM), parties(case, Role.OFFENDER)
    both = victims + offenders
    return [
        GateStatus(
            "parties",
            "Both people have been invited and have set up their accounts, or take part on paper",
            bool(victims) and bool(offenders) and all(p.user_id or p.on_paper for p in both),
        ),
        GateStatus(
            "consent",
            "The person harmed has given written, informed consent",
            bool(victims) and all(v.consent_recorded_at for v in victims),
        ),
        GateStatus(
            "admission",
            "The person responsible has admitted responsibility",
            bool(offenders) and all(o.admission_recorded_at for o in offenders),
        ),
        GateStatus(
            "risk",
            "Risk and suitability have been assessed for each person",
            bool(both) and all(p.risk_assessed_at for p in both),
        ),
        GateStatus(
            "no_contact",
            "No no-contact order forbids this exchange",
            case.no_contact_checked_at is not None,
        ),
    ]


def activate_case(session: Session, actor: Actor, case_id: int) -> None:
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        states.check_case(CaseAction.ACTIVATE, case)
        missing = [gate.label for gate in gate_status(case) if not gate.done]
        if missing:
            raise InvalidTransition("The case cannot start yet: " + "; ".join(missing))
        states.move_case(case, CaseAction.ACTIVATE)
        audit.record(session, "case.activated", actor_id=actor.id, case_id=case.id)


def pause_case(
    session: Session, settings: ServiceSettings, actor: Actor, case_id: int, reason: str
) -> None:
    """Nothing is passed on or opened for the first time until the case resumes; both
    parties are told, each page in words for them (docs/rules.md, "Pause means pause").
    The reason is asked for: it is for them and the case's staff, encrypted like a letter,
    and the audit entry says only that the case was paused."""
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        states.move_case(case, CaseAction.PAUSE)
        if not reason.strip():
            raise InvalidInput("Enter why you are pausing the exchange", "reason")
        notes.set_pause_reason(
            session, case, reason[: limits.NOTE_CHARACTERS], written_by_id=actor.id
        )
        _notify_parties(session, settings, case)
        audit.record(session, "case.paused", actor_id=actor.id, case_id=case.id)


def resume_case(session: Session, settings: ServiceSettings, actor: Actor, case_id: int) -> None:
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        states.move_case(case, CaseAction.RESUME)
        notes.set_pause_reason(session, case, "", written_by_id=actor.id)
        deliver_due_letters(session, settings, case)
        _notify_parties(session, settings, case)
        audit.record(session, "case.resumed", actor_id=actor.id, case_id=case.id)


def _end(
    session: Session, case: Case, action: CaseAction, outcome: CaseOutcome, actor_id: int
) -> None:
    """Close the case and stop every letter not yet delivered; the case is locked."""
    states.check_case(action, case)
    stop_letters(session, case, outcome, actor_id)
    states.move_case(case, action)
    case.outcome = outcome
    case.closed_at = utcnow()
    audit.record(
        session,
        "case.closed",
        actor_id=actor_id,
        case_id=case.id,
        details={"outcome": str(outcome)},
    )


def close_case(session: Session, actor: Actor, case_id: int, outcome: str) -> None:
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        states.check_case(CaseAction.CLOSE, case)
        try:
            chosen = CaseOutcome(outcome)
        except ValueError:
            raise InvalidInput("Choose how the case ended", "outcome") from None
        _end(session, case, CaseAction.CLOSE, chosen, actor.id)


def withdraw_from_case(
    session: Session, settings: ServiceSettings, actor: Actor, case_id: int
) -> None:
    """A party leaves: all relay stops at once (docs/rules.md rule 1)."""
    with transaction(session):
        case, mine = case_for_party(session, actor, case_id)
        case = lock_case(session, case.id, exclusive=True)
        states.check_case(CaseAction.WITHDRAW, case)
        mine.withdrawn_at = utcnow()
        outcome = (
            CaseOutcome.WITHDRAWN_BY_VICTIM
            if mine.role == Role.VICTIM
            else CaseOutcome.WITHDRAWN_BY_OFFENDER
        )
        _end(session, case, CaseAction.WITHDRAW, outcome, actor.id)
        _notify_facilitators(session, settings, case)


def _notify(session: Session, settings: ServiceSettings, people: list[CaseParticipant]) -> None:
    for person in people:
        if person.user_id is not None and person.withdrawn_at is None:
            user = session.get(User, person.user_id)
            outbox.queue_notice(session, settings.outbox_key, user, settings.link("/"))


def _notify_facilitators(session: Session, settings: ServiceSettings, case: Case) -> None:
    _notify(session, settings, parties(case, Role.FACILITATOR))


def _notify_parties(session: Session, settings: ServiceSettings, case: Case) -> None:
    _notify(session, settings, [p for role in PARTY_ROLES for p in parties(case, role)])


def set_receiving(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    case_id: int,
    *,
    preference: str,
    tell_author_when_read: bool | None = None,
    conditions: str | None = None,
) -> None:
    """The recipient's own terms for receiving letters (docs/rules.md: receiving on their
    terms). A choice given as None stays as it was."""
    with transaction(session):
        case, mine = case_for_party(session, actor, case_id)
        try:
            choice = ReceivePreference(preference)
        except ValueError:
            raise InvalidInput(
                "Choose when you would like to receive letters", "preference"
            ) from None
        # Locks first (case, then its letters inside deliver_due_letters), the audit head
        # last, as in every transition. Exclusive: the choice changes what an approval in
        # flight would decide (may_deliver), so the two must not run side by side.
        case = lock_case(session, case.id, exclusive=True)
        states.check_case(CaseAction.SET_RECEIVING, case)
        mine.receive_preference = choice
        if tell_author_when_read is not None:
            mine.tell_author_when_read = tell_author_when_read
        if conditions is not None:
            notes.set_conditions(session, case, mine, conditions[: limits.CONDITIONS_CHARACTERS])
        deliver_due_letters(session, settings, case)
        if any(states.waiting_for_reading(letter) for letter in case.letters):
            _notify_facilitators(session, settings, case)
        audit.record(
            session,
            "party.receiving_changed",
            actor_id=actor.id,
            case_id=case.id,
            details={"preference": preference, "tell_author": mine.tell_author_when_read},
        )


def shred_case(
    session: Session, case_id: int, actor_id: int | None = None, *, by: str | None = None
) -> int:
    """Retention: delete every seal and ciphertext of a closed case (crypto-shredding).

    The letters can never be read again by anyone; the audit trail keeps its metadata.
    `by` says in the entry what shredded it when it was not a person ("retention": the
    daily run, relay/services/retention.py).
    """
    with transaction(session):
        if session.get(Case, case_id) is None:
            raise NotFound("case")
        case = lock_case(session, case_id, exclusive=True)
        states.check_case(CaseAction.SHRED, case)
        shredded = content_keys.shred(session, case)
        case.shredded_at = utcnow()
        audit.record(
            session,
            "case.shredded",
            actor_id=actor_id,
            case_id=case.id,
            details={"texts": shredded} if by is None else {"texts": shredded, "by": by},
        )
        return shredded


def add_case_note(session: Session, actor: Actor, case_id: int, text: str) -> None:
    """A facilitator's note on the case, for its team only: sealed to the case key, never
    to a party; audited without its text."""
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        states.check_case(CaseAction.KEEP_RECORDS, case)
        text = text.strip()
        if not text:
            raise InvalidInput("Enter the note", "text")
        if len(text) > limits.NOTE_CHARACTERS:
            raise InvalidInput(
                f"The note must be {limits.NOTE_CHARACTERS:,} characters or fewer", "text"
            )
        notes.add_case_note(session, case, text, actor.id)
        audit.record(session, "case.note_added", actor_id=actor.id, case_id=case.id)


# --- a party on paper, later: switching, and a printed code for the portal ------------


def _party_to_change(case: Case, participant_id: int) -> CaseParticipant:
    """A victim or offender of this open case who is still in the exchange."""
    party = next((p for p in case.participants if p.id == participant_id), None)
    if party is None or party.role not in PARTY_ROLES:
        raise NotFound("person")
    if case.state == CaseState.CLOSED:
        raise InvalidTransition("The case is closed")
    if party.withdrawn_at is not None:
        raise InvalidTransition("They have left the exchange")
    return party


def set_on_paper(
    session: Session,
    settings: ServiceSettings,
    actor: Actor,
    case_id: int,
    participant_id: int,
    on_paper: bool,
) -> CaseParticipant:
    """A case's facilitator changes how a party takes part (docs/rules.md, "Paper and
    custody").

    To paper: their account, if they have one, stays, with every letter it holds; a letter
    approved to them from now on (and any approved one not yet passed on) waits to be
    printed and posted (`states.due`), sealed to their account as usual.

    Off paper: only with an account (a party without one is given a printed code,
    `print_code`, and leaves paper when they use it). Letters approved while they had no
    account were sealed to nobody but the case and their writer: each is sealed to their
    account now, from the case key, and those due are passed on through Relay."""
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        party = _party_to_change(case, participant_id)
        if party.on_paper == on_paper:
            raise InvalidTransition(
                "They already take part on paper"
                if on_paper
                else "They already take part through Relay"
            )
        person = {"person": str(party.role)}
        if on_paper:
            party.on_paper = True
            audit.record(
                session, "case.party_on_paper", actor_id=actor.id, case_id=case.id, details=person
            )
            return party
        user = session.get(User, party.user_id) if party.user_id is not None else None
        if user is None:
            raise InvalidTransition(
                "They have no account yet: print them a one-time code. They take part "
                "through Relay once they have set up their account with it"
            )
        if user.keys_replaced_at is not None:
            raise InvalidTransition(
                "Their password was reset without their recovery code: restore their access "
                "first, after checking with them"
            )
        sealed = _seal_letters_to(session, actor, case, party, user)
        party.on_paper = False
        audit.record(
            session,
            "case.party_off_paper",
            actor_id=actor.id,
            case_id=case.id,
            details={**person, "letters": sealed},
        )
        deliver_due_letters(session, settings, case, actor.id)
        return party


def _seal_letters_to(
    session: Session, actor: Actor, case: Case, party: CaseParticipant, user: User
) -> int:
    """Give the party's account the key of every letter approved to them that it does not
    hold yet (approved while they had no account); returns how many. The letters are
    locked, after the case, as every transition takes them."""
    holder = keyring.user_holder(user.id)
    case_key = keys.case_key_of(session, case.id)
    case_private_key = None
    sealed = 0
    for letter in lock_letters_of(session, case, GIVEN_TO_RECIPIENT):
        if letter.recipient_id != party.id or letter.approved_version_id is None:
            continue
        version = session.get(LetterVersion, letter.approved_version_id)
        if any(seal.holder == holder for seal in version.seals):
            continue
        if case_private_key is None:
            case_private_key = actor.case_private_key(session, case.id)
        content_key = content_keys.open_through_case(session, version, case_key, case_private_key)
        content_keys.seal_to_recipient(session, version, content_key, user)
        sealed += 1
    return sealed


def print_code(session: Session, actor: Actor, case_id: int, participant_id: int) -> PrintedCode:
    """A one-time code, to print, for a party on paper with no account who wants to use
    Relay: they enter it at "I have a code" and set up their account, no e-mail needed. It
    is shown once; a new one replaces any earlier one (`invitations.issue_code`)."""
    with transaction(session):
        case = _managing_case(session, actor, case_id)
        party = _party_to_change(case, participant_id)
        if party.user_id is not None:
            raise InvalidTransition("They already have an account: they sign in with it")
        if not party.on_paper:
            raise InvalidTransition(
                "A code is printed only for someone who takes part on paper: invite them by "
                "e-mail, or change them to paper first"
            )
        return issue_code(session, actor, party)
