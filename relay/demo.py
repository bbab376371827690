"""Demo data, built only through the services (the same calls the pages make)."""

from dataclasses import dataclass

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.models import Case
from relay.models import Role
from relay.models import User
from relay.models import utcnow
from relay.services import accounts
from relay.services import cases
from relay.services import invitations
from relay.services import letters
from relay.services import second_factor
from relay.services import signing_in
from relay.services.actor import Actor
from relay.services.settings import ServiceSettings

# Known passwords for the demo only; never use the demo command on real data.
DEMO_PEOPLE = {
    "administrator": ("admin@relay.example", "Alex Morgan", "demo admin password"),
    "facilitator": ("facilitator@relay.example", "Sam Patel", "demo facilitator password"),
    "victim": ("harmed@relay.example", "Jo Harris", "demo person harmed password"),
    "offender": ("responsible@relay.example", "Chris Lee", "demo person responsible password"),
}


# Known TOTP secrets for the demo staff, so a person trying the demo can add them to an
# authenticator app (or run `oathtool --totp -b SECRET`).
DEMO_TOTP_SECRETS = {
    "admin@relay.example": "RELAYDEMOADMINSECRETAAAAAAAAAAAA",
    "facilitator@relay.example": "RELAYDEMOFACILITATORSECRETAAAAAA",
}


def _next_code(secret: str, last_step: int | None) -> str:
    """The first code in the accepted window that has not been used yet."""
    totp = pyotp.TOTP(secret)
    now = utcnow()
    current = totp.timecode(now)
    for offset in range(-second_factor.VALID_WINDOW, second_factor.VALID_WINDOW + 1):
        if last_step is None or current + offset > last_step:
            return totp.at(now, counter_offset=offset)
    raise RuntimeError("every code in the window has been used; wait 30 seconds")


def actor_for(session: Session, settings: ServiceSettings, email: str, password: str):
    """Sign in as a person would (with the second step when needed); return the actor."""
    signed_in = signing_in.sign_in(session, settings, email=email, password=password)
    secret = DEMO_TOTP_SECRETS.get(email) or pyotp.random_base32()
    if signed_in.next_step == "enrol":
        second_factor.begin_enrolment(session, settings, signed_in.token, secret=secret)
        second_factor.complete_enrolment(
            session, settings, signed_in.token, _next_code(secret, None)
        )
    elif signed_in.next_step == "verify":
        user = signed_in.user
        second_factor.verify(
            session, settings, signed_in.token, _next_code(secret, user.totp_last_step)
        )
    return signing_in.resume_session(session, settings, signed_in.token)


@dataclass
class World:
    administrator: Actor
    facilitator: Actor
    victim: Actor
    offender: Actor
    case: Case


def build_staff(
    session: Session,
    settings: ServiceSettings,
    people: dict[str, tuple[str, str, str]] = DEMO_PEOPLE,
) -> tuple[Actor, Actor]:
    """The first administrator and a facilitator they invited, both signed in."""
    admin_email, admin_name, admin_password = people["administrator"]
    accounts.create_administrator(
        session, settings, email=admin_email, name=admin_name, password=admin_password
    )
    admin = actor_for(session, settings, admin_email, admin_password)
    email, name, password = people["facilitator"]
    token = invitations.invite_staff(session, settings, admin, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    return admin, actor_for(session, settings, email, password)


def start_with_parties(
    session: Session,
    settings: ServiceSettings,
    facilitator: Actor,
    case_id: int,
    people: dict[str, tuple[str, str, str]] = DEMO_PEOPLE,
) -> tuple[Actor, Actor]:
    """Both parties invited to the case and signed up (shown as "Jo" and "Chris"), every
    gate recorded and the case started; returns the person harmed and the person
    responsible, signed in."""
    display = {"victim": "Jo", "offender": "Chris"}
    for role in ("victim", "offender"):
        email, name, password = people[role]
        token = cases.invite_party(
            session,
            settings,
            facilitator,
            case_id,
            role=Role(role),
            email=email,
            name=name,
            display_name=display[role],
        )
        invitations.accept_invitation(session, settings, token=token, password=password)
    for gate in cases.GATES:
        cases.record_gate(session, facilitator, case_id, gate)
    cases.activate_case(session, facilitator, case_id)
    victim = actor_for(session, settings, *people["victim"][::2])
    offender = actor_for(session, settings, *people["offender"][::2])
    return victim, offender


def build_active_case(
    session: Session,
    settings: ServiceSettings,
    people: dict[str, tuple[str, str, str]] = DEMO_PEOPLE,
    reference: str = "RJ-2026-001",
) -> World:
    """An administrator, a facilitator and an active case with both parties signed up."""
    admin, facilitator = build_staff(session, settings, people)
    case = cases.open_case(session, facilitator, reference=reference, offence_category="burglary")
    victim, offender = start_with_parties(session, settings, facilitator, case.id, people)
    return World(admin, facilitator, victim, offender, case)


def _letter(session, settings, author, case_id, body, submit=True):
    letter = letters.save_draft(session, author, case_id, None, body)
    if submit:
        letters.submit_letter(session, settings, author, letter.id)
    return letter


def load(session: Session, settings: ServiceSettings) -> list[str]:
    """Load the demo once: a case holding letters in every state."""
    admin_email = DEMO_PEOPLE["administrator"][0]
    if session.scalar(select(User.id).where(User.email == admin_email)) is not None:
        return ["Demo data is already loaded.", *_sign_ins()]
    world = build_active_case(session, settings)
    f, v, o, case_id = world.facilitator, world.victim, world.offender, world.case.id

    # read: approved while the victim was not receiving, delivered when they chose to, read.
    first = _letter(
        session,
        settings,
        o,
        case_id,
        "I am writing to say sorry for breaking into your home.\n\n"
        "I understand now that you no longer feel safe there.",
    )
    letters.approve_letter(session, settings, f, first.id)
    cases.set_receiving(
        session,
        settings,
        v,
        case_id,
        preference="receive",
        tell_author_when_read=False,
        conditions="Please do not use my surname.",
    )
    letters.open_letter(session, settings, v, first.id)
    # delivered, not yet read.
    second = _letter(session, settings, o, case_id, "I have started a course to change.")
    letters.approve_letter(session, settings, f, second.id)
    # approved, waiting: the victim now reads only with their facilitator.
    cases.set_receiving(
        session,
        settings,
        v,
        case_id,
        preference="with_facilitator",
        tell_author_when_read=False,
        conditions="Please do not use my surname.",
    )
    third = _letter(session, settings, o, case_id, "I would like to answer your questions.")
    letters.approve_letter(session, settings, f, third.id)
    # in review, changes requested, redaction proposed, rejected, draft, withdrawn.
    _letter(session, settings, v, case_id, "Why did you choose our house?")
    asked = _letter(session, settings, v, case_id, "You should know what you took from us.")
    letters.request_changes(
        session, settings, f, asked.id, "Could you say how it affected you, in your own words?"
    )
    redacted = _letter(
        session, settings, o, case_id, "I live at 12 Example Street now and I am sorry."
    )
    letters.propose_redaction(
        session,
        settings,
        f,
        redacted.id,
        "I live somewhere else now and I am sorry.",
        "I have taken out your address.",
    )
    rejected = _letter(session, settings, o, case_id, "It was not really my fault.")
    letters.reject_letter(
        session,
        settings,
        f,
        rejected.id,
        "This letter blames others; please write again about your part.",
    )
    _letter(session, settings, v, case_id, "A draft I have not finished.", submit=False)
    withdrawn = _letter(session, settings, v, case_id, "A letter I changed my mind about.")
    letters.withdraw_letter(session, v, withdrawn.id)
    return ["Demo data loaded: one active case with letters in every state.", *_sign_ins()]


def _sign_ins() -> list[str]:
    lines = ["Demo sign-ins (http://127.0.0.1:5000):"]
    for role, (email, _name, password) in DEMO_PEOPLE.items():
        lines.append(f"  {role:<14} {email:<30} password: {password}")
    lines.append("Staff also enter a code from an authenticator app holding these demo keys,")
    lines.append("""or from: .venv/bin/python -c "import pyotp; print(pyotp.TOTP('KEY').now())\"""")
    for email, secret in DEMO_TOTP_SECRETS.items():
        lines.append(f"  {email:<30} key: {secret}")
    return lines
