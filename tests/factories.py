"""The worlds tests start from, built through the services (the same calls the pages make).

Each builder here runs once per test run: tests/conftest.py builds the world into a template
database and gives every test that asks for it a copy, with the audit signing key it was
built with. A builder returns a `Built`: the plain values (ids, session tokens) a test needs
to find its way around its copy.
"""

from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import demo
from relay.models import Case
from relay.models import Invitation
from relay.models import Role
from relay.models import UserSession
from relay.services import accounts
from relay.services import cases
from relay.services import claims
from relay.services import invitations
from relay.services import letters
from relay.services import notes
from relay.services import signing_in
from relay.services.actor import Actor
from relay.services.settings import ServiceSettings
from tests import paper

People = dict[str, tuple[str, str, str]]

# role: (e-mail address, name, password).
PEOPLE: People = {
    "administrator": ("admin@relay.test", "Ada Admin", "correct horse admin"),
    "facilitator": ("facilitator@relay.test", "Fran Facilitator", "correct horse facilitator"),
    "victim": ("victim@relay.test", "Vic Harmed", "correct horse victim"),
    "offender": ("offender@relay.test", "Olly Responsible", "correct horse offender"),
}

# The people of case B in `two_cases`: another facilitator and other parties.
OTHER: People = {
    "other_facilitator": ("other-fac@relay.test", "Other Facilitator", "other facilitator pw"),
    "other_victim": ("other-victim@relay.test", "Other Victim", "other victim password"),
    "other_offender": ("other-offender@relay.test", "Other Offender", "other offender pw"),
}

ROLES = ("administrator", "facilitator", "victim", "offender")


@dataclass
class World:
    """An active case with an administrator, a facilitator and both parties signed up."""

    administrator: Actor
    facilitator: Actor
    victim: Actor
    offender: Actor
    case: Case


@dataclass
class Resources:
    """What each route of the authorisation matrix is pointed at, in one case."""

    case_id: int
    author_letter: dict[str, int]
    recipient_letter: dict[str, int]
    review_letter: int
    user_id: int
    session_id: int
    staff_user_id: int = 0
    invitation_id: int = 0  # a staff invitation not yet accepted
    scan_id: int = 0  # a paper letter's scan waiting to be typed in


@dataclass(frozen=True)
class Built:
    """A world as built: who can sign in to it, and how to find what the builder made."""

    people: People
    # role: the token of the session the builder signed them in with.
    tokens: dict[str, str] = field(default_factory=dict)
    case_id: int | None = None
    # `two_cases`: the resources of case A (the world's) and of case B.
    resources: tuple[Resources, Resources] | None = None


def sign_in(session: Session, settings: ServiceSettings, email: str, password: str) -> str:
    """Sign in through the service, as the sign-in page does; the session's token."""
    signed_in = signing_in.sign_in(session, settings, email=email, password=password)
    # The test app asks staff for no second step (tests/web/test_second_factor.py
    # turns it on and signs in through the pages).
    assert signed_in.next_step is None, f"{email} still needs a second step"
    return signed_in.token


def actor_for(session: Session, settings: ServiceSettings, email: str, password: str):
    """Sign in through the service; the actor a page would act as."""
    return signing_in.resume_session(session, settings, sign_in(session, settings, email, password))


def world_of(session: Session, settings: ServiceSettings, built: Built) -> World:
    """The world's people as actors in `session`, from the sessions the builder opened."""
    actors = {}
    for role in ROLES:
        actor = signing_in.resume_session(session, settings, built.tokens[role])
        assert actor is not None, f"the {role}'s session from the world's build has ended"
        actors[role] = actor
    return World(**actors, case=session.get(Case, built.case_id))


def _active_case(session, settings, people: People, reference: str) -> Built:
    admin_email, admin_name, admin_password = people["administrator"]
    accounts.create_administrator(
        session, settings, email=admin_email, name=admin_name, password=admin_password
    )
    tokens = {"administrator": sign_in(session, settings, admin_email, admin_password)}
    admin = signing_in.resume_session(session, settings, tokens["administrator"])
    email, name, password = people["facilitator"]
    token = invitations.invite_staff(session, settings, admin, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    tokens["facilitator"] = sign_in(session, settings, email, password)
    facilitator = signing_in.resume_session(session, settings, tokens["facilitator"])

    case = cases.open_case(session, facilitator, reference=reference, offence_category="burglary")
    display = {"victim": "Jo", "offender": "Chris"}
    for role in ("victim", "offender"):
        email, name, password = people[role]
        token = cases.invite_party(
            session,
            settings,
            facilitator,
            case.id,
            role=Role(role),
            email=email,
            name=name,
            display_name=display[role],
        )
        invitations.accept_invitation(session, settings, token=token, password=password)
    for gate in cases.GATES:
        cases.record_gate(session, facilitator, case.id, gate)
    cases.activate_case(session, facilitator, case.id)
    for role in ("victim", "offender"):
        email, _name, password = people[role]
        tokens[role] = sign_in(session, settings, email, password)
    return Built(people=dict(people), tokens=tokens, case_id=case.id)


def build_world(session: Session, settings: ServiceSettings) -> Built:
    """An active case, RJ-2026-001, between the PEOPLE: each of them signed in once."""
    return _active_case(session, settings, PEOPLE, "RJ-2026-001")


def receive_letters(session, settings, victim, case_id: int, conditions: str = "") -> None:
    """The victim chooses to receive letters as soon as they are approved."""
    cases.set_receiving(
        session,
        settings,
        victim,
        case_id,
        preference="receive",
        tell_author_when_read=False,
        conditions=conditions,
    )


def approve_as_reviewed(session, settings, facilitator, letter_id: int, not_before=None) -> bool:
    """Approve as a facilitator does on the review page: open the letter, tick each of its
    flags as checked, confirm."""
    letter, texts, _claim = claims.open_for_review(session, facilitator, letter_id)
    conditions = notes.conditions_of(session, facilitator, letter.recipient)
    found = letters.flags_for_review(letter, texts[-1][1], conditions)
    return letters.approve_letter(
        session,
        settings,
        facilitator,
        letter_id,
        not_before,
        checked_flags=[flag.key for flag in found],
        confirmed=True,
        scan_checked=True,
    )


def _send(session, settings, author, case_id, text, approve_by=None) -> int:
    letter = letters.save_draft(session, author, case_id, None, text)
    letters.submit_letter(session, settings, author, letter.id)
    if approve_by is not None:
        letters.approve_letter(session, settings, approve_by, letter.id)
    return letter.id


def _case_resources(session, settings, facilitator, victim, offender, case_id) -> Resources:
    receive_letters(session, settings, victim, case_id)
    in_review = _send(session, settings, victim, case_id, "In review.")
    to_offender = _send(session, settings, victim, case_id, "To the offender.", facilitator)
    to_victim = _send(session, settings, offender, case_id, "To the victim.", facilitator)
    victim_session = session.scalars(
        select(UserSession).where(UserSession.user_id == victim.id).order_by(UserSession.id)
    ).first()
    scan = paper.received(session, facilitator, case_id, Role.OFFENDER, ["From paper."])
    return Resources(
        case_id=case_id,
        scan_id=scan.id,
        author_letter={"victim": in_review, "offender": to_victim},
        recipient_letter={"victim": to_victim, "offender": to_offender},
        review_letter=in_review,
        user_id=victim.id,
        session_id=victim_session.id,
    )


def build_two_cases(session: Session, settings: ServiceSettings) -> Built:
    """The world's case (A) and case B, run by another facilitator with other parties;
    in each, a letter in review and a letter delivered each way."""
    built = build_world(session, settings)
    world = world_of(session, settings, built)
    case_a = _case_resources(
        session, settings, world.facilitator, world.victim, world.offender, world.case.id
    )
    case_a.staff_user_id = world.facilitator.id
    invitations.invite_staff(
        session, settings, world.administrator, email="pending@relay.test", name="Pending"
    )
    case_a.invitation_id = session.scalar(
        select(Invitation.id).where(Invitation.email == "pending@relay.test")
    )
    email, name, password = OTHER["other_facilitator"]
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    other = actor_for(session, settings, email, password)
    case = cases.open_case(session, other, reference="RJ-B", offence_category="robbery")
    for role in ("victim", "offender"):
        p_email, p_name, p_password = OTHER[f"other_{role}"]
        invite = cases.invite_party(
            session,
            settings,
            other,
            case.id,
            role=Role(role),
            email=p_email,
            name=p_name,
            display_name="B",
        )
        invitations.accept_invitation(session, settings, token=invite, password=p_password)
    for gate in cases.GATES:
        cases.record_gate(session, other, case.id, gate)
    cases.activate_case(session, other, case.id)
    b_victim = actor_for(session, settings, *OTHER["other_victim"][::2])
    b_offender = actor_for(session, settings, *OTHER["other_offender"][::2])
    case_b = _case_resources(session, settings, other, b_victim, b_offender, case.id)
    return Built(
        people={**PEOPLE, **OTHER},
        tokens=built.tokens,
        case_id=built.case_id,
        resources=(case_a, case_b),
    )


def load_demo(session: Session, settings: ServiceSettings) -> Built:
    """The demo as `flask demo` loads it: a case with letters in every state.

    For the tests of the demo and of the pages that show it; every other test starts
    from the worlds above, which the demo's changes cannot move.
    """
    demo.load(session, settings)
    return Built(people=dict(demo.DEMO_PEOPLE))
