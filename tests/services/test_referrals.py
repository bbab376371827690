"""Referrals (issue 11, item 1): recorded before a case exists, with no names and no free
text; the offer and what came of it, under a few rules; and the case a referral becomes
when the person harmed agrees, opened and linked in one transaction."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import String
from sqlalchemy import func
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Case
from relay.models import CaseState
from relay.models import DeclineReason
from relay.models import OffenceCategory
from relay.models import Referral
from relay.models import ReferralSource
from relay.models import ReferralStatus
from relay.models import Role
from relay.models import utcnow
from relay.services import invitations
from relay.services import referrals
from relay.services.errors import InvalidInput
from relay.services.errors import InvalidTransition
from relay.services.errors import NotAllowed
from relay.services.errors import NotFound
from tests.factories import OTHER
from tests.factories import actor_for

TODAY = utcnow().date()


def _record(session, facilitator, days_ago=3, source="police", offence="burglary"):
    return referrals.record_referral(
        session,
        facilitator,
        received_on=TODAY - timedelta(days=days_ago),
        source=source,
        offence_category=offence,
        today=TODAY,
    )


def _other_facilitator(session, settings, world):
    email, name, password = OTHER["other_facilitator"]
    token = invitations.invite_staff(session, settings, world.administrator, email=email, name=name)
    invitations.accept_invitation(session, settings, token=token, password=password)
    return actor_for(session, settings, email, password)


def _entries(session, action):
    return session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.sequence)
    ).all()


def test_a_referral_holds_no_names_and_no_free_text():
    # Every text column is one of the fixed lists: nothing anyone typed can be kept.
    for column in Referral.__table__.columns:
        if isinstance(column.type, String):
            assert column.type.enum_class is not None, column.name  # type: ignore[attr-defined]


def test_a_facilitator_records_a_referral_and_it_is_audited(session, world):
    referral = _record(session, world.facilitator)

    session.expire_all()
    kept = session.get(Referral, referral.id)
    assert kept.received_on == TODAY - timedelta(days=3)
    assert kept.source == ReferralSource.POLICE
    assert kept.offence_category == OffenceCategory.BURGLARY
    assert kept.status == ReferralStatus.REFERRED
    assert kept.decline_reason is None and kept.case_id is None
    assert kept.recorded_by_id == world.facilitator.id
    assert abs(kept.recorded_at - utcnow()) < timedelta(minutes=1)
    [entry] = _entries(session, "referral.recorded")
    assert entry.actor_id == world.facilitator.id and entry.case_id is None
    assert json.loads(entry.details)["referral_id"] == referral.id
    assert json.loads(entry.details)["source"] == "police"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"received_on": TODAY + timedelta(days=1)}, "received_on"),
        ({"received_on": None}, "received_on"),
        ({"source": "the neighbours"}, "source"),
        ({"source": ""}, "source"),
        ({"offence_category": "a long story"}, "offence_category"),
    ],
)
def test_a_referral_needs_a_real_date_source_and_offence(session, world, change, field):
    given = {"received_on": TODAY, "source": "police", "offence_category": "theft"} | change
    with pytest.raises(InvalidInput) as refused:
        referrals.record_referral(session, world.facilitator, today=TODAY, **given)
    assert refused.value.field == field
    assert session.scalar(select(func.count()).select_from(Referral)) == 0
    assert _entries(session, "referral.recorded") == []


@pytest.mark.parametrize("role", ["administrator", "victim", "offender"])
def test_only_a_facilitator_records_reads_or_changes_referrals(session, world, role):
    referral = _record(session, world.facilitator)
    someone = getattr(world, role)
    with pytest.raises(NotAllowed):
        _record(session, someone)
    with pytest.raises(NotAllowed):
        referrals.referral_list(session, someone)
    with pytest.raises(NotAllowed):
        referrals.referral_for_staff(session, someone, referral.id)
    with pytest.raises(NotAllowed):
        referrals.record_outcome(session, someone, referral.id, status="offered")
    with pytest.raises(NotAllowed):
        referrals.open_case_from_referral(session, someone, referral.id, reference="RJ-NEW")
    session.expire_all()
    assert session.get(Referral, referral.id).status == ReferralStatus.REFERRED
    assert session.scalar(select(func.count()).select_from(Referral)) == 1


def test_a_referral_that_does_not_exist_is_not_found(session, world):
    with pytest.raises(NotFound):
        referrals.referral_for_staff(session, world.facilitator, 999)
    with pytest.raises(NotFound):
        referrals.record_outcome(session, world.facilitator, 999, status="offered")


def test_each_outcome_is_kept_and_audited(session, world):
    referral = _record(session, world.facilitator)
    referrals.record_outcome(session, world.facilitator, referral.id, status="offered")
    referrals.record_outcome(
        session, world.facilitator, referral.id, status="declined", decline_reason="not_ready"
    )

    session.expire_all()
    kept = session.get(Referral, referral.id)
    assert kept.status == ReferralStatus.DECLINED
    assert kept.decline_reason == DeclineReason.NOT_READY
    assert kept.updated_at is not None
    entries = _entries(session, "referral.updated")
    assert [
        (json.loads(e.details)["status"], json.loads(e.details).get("decline_reason"))
        for e in entries
    ] == [
        ("offered", None),
        ("declined", "not_ready"),
    ]
    assert all(e.actor_id == world.facilitator.id and e.case_id is None for e in entries)


def test_a_decline_needs_its_reason_and_only_a_decline_has_one(session, world):
    referral = _record(session, world.facilitator)
    with pytest.raises(InvalidInput) as refused:
        referrals.record_outcome(session, world.facilitator, referral.id, status="declined")
    assert refused.value.field == "decline_reason"
    with pytest.raises(InvalidInput) as refused:
        referrals.record_outcome(
            session, world.facilitator, referral.id, status="offered", decline_reason="not_ready"
        )
    assert refused.value.field == "decline_reason"
    with pytest.raises(InvalidInput):
        referrals.record_outcome(
            session, world.facilitator, referral.id, status="declined", decline_reason="rude"
        )

    # A decline later corrected to an offer (they changed their mind) loses its reason.
    referrals.record_outcome(
        session, world.facilitator, referral.id, status="declined", decline_reason="feels_unsafe"
    )
    referrals.record_outcome(session, world.facilitator, referral.id, status="offered")
    session.expire_all()
    kept = session.get(Referral, referral.id)
    assert kept.status == ReferralStatus.OFFERED and kept.decline_reason is None


def test_taking_part_is_recorded_only_by_opening_a_case(session, world):
    referral = _record(session, world.facilitator)
    with pytest.raises(InvalidInput) as refused:
        referrals.record_outcome(session, world.facilitator, referral.id, status="took_part")
    assert refused.value.field == "status"
    with pytest.raises(InvalidInput):
        referrals.record_outcome(session, world.facilitator, referral.id, status="maybe")
    # Nothing changed is not a change.
    with pytest.raises(InvalidInput):
        referrals.record_outcome(session, world.facilitator, referral.id, status="referred")
    assert _entries(session, "referral.updated") == []


def test_opening_a_case_from_a_referral_links_them_and_is_audited_on_the_case(session, world):
    referral = _record(session, world.facilitator, offence="domestic_abuse")
    referrals.record_outcome(session, world.facilitator, referral.id, status="offered")

    case = referrals.open_case_from_referral(
        session, world.facilitator, referral.id, reference="RJ-FROM-REFERRAL"
    )

    session.expire_all()
    kept = session.get(Referral, referral.id)
    assert kept.status == ReferralStatus.TOOK_PART and kept.case_id == case.id
    case = session.get(Case, case.id)
    assert case.state == CaseState.REFERRED
    assert case.offence_category == OffenceCategory.DOMESTIC_ABUSE.value
    assert case.offence_label == "Domestic abuse"
    assert [(p.user_id, p.role) for p in case.participants] == [
        (world.facilitator.id, Role.FACILITATOR)
    ]
    [opened] = _entries(session, "case.opened")[-1:]
    assert opened.case_id == case.id
    [linked] = _entries(session, "case.opened_from_referral")
    assert linked.case_id == case.id and linked.actor_id == world.facilitator.id
    assert json.loads(linked.details) == {"referral_id": referral.id}
    assert referrals.case_of(session, world.facilitator, kept).id == case.id


def test_a_referral_that_became_a_case_cannot_be_changed_back_or_opened_again(session, world):
    referral = _record(session, world.facilitator)
    referrals.open_case_from_referral(session, world.facilitator, referral.id, reference="RJ-1")
    for status in ("referred", "offered", "not_contacted"):
        with pytest.raises(InvalidTransition):
            referrals.record_outcome(session, world.facilitator, referral.id, status=status)
    with pytest.raises(InvalidTransition):
        referrals.open_case_from_referral(session, world.facilitator, referral.id, reference="RJ-2")
    assert (
        session.scalar(select(func.count()).select_from(Case).where(Case.reference == "RJ-2")) == 0
    )


def test_a_refused_reference_opens_no_case_and_leaves_the_referral_open(session, world):
    referral = _record(session, world.facilitator)
    cases_before = session.scalar(select(func.count()).select_from(Case))
    with pytest.raises(InvalidInput) as refused:
        referrals.open_case_from_referral(
            session, world.facilitator, referral.id, reference=world.case.reference
        )
    assert refused.value.field == "reference"
    session.expire_all()
    assert session.get(Referral, referral.id).status == ReferralStatus.REFERRED
    assert session.get(Referral, referral.id).case_id is None
    assert session.scalar(select(func.count()).select_from(Case)) == cases_before
    assert _entries(session, "case.opened_from_referral") == []


def test_every_facilitator_sees_every_referral_newest_first_narrowed_by_status(
    session, settings, world
):
    other = _other_facilitator(session, settings, world)
    oldest = _record(session, world.facilitator, days_ago=30)
    newest = _record(session, other, days_ago=1, source="prison")
    middle = _record(session, world.facilitator, days_ago=10)
    referrals.record_outcome(session, other, middle.id, status="not_contacted")

    for who in (world.facilitator, other):
        listed = referrals.referral_list(session, who)
        assert [r.id for r in listed.items] == [newest.id, middle.id, oldest.id]
        assert listed.total == 3
    narrowed = referrals.referral_list(session, world.facilitator, status="not_contacted")
    assert [r.id for r in narrowed.items] == [middle.id]
    with pytest.raises(InvalidInput):
        referrals.referral_list(session, world.facilitator, status="lost")


def test_the_case_is_shown_only_to_its_facilitators(session, settings, world):
    other = _other_facilitator(session, settings, world)
    referral = _record(session, world.facilitator)
    referrals.open_case_from_referral(session, world.facilitator, referral.id, reference="RJ-X")
    seen = referrals.referral_for_staff(session, other, referral.id)
    assert seen.status == ReferralStatus.TOOK_PART
    assert referrals.case_of(session, other, seen) is None


def test_the_list_pages_by_25(session, world):
    for days in range(27):
        _record(session, world.facilitator, days_ago=days)
    first = referrals.referral_list(session, world.facilitator)
    second = referrals.referral_list(session, world.facilitator, page=2)
    assert len(first.items) == 25 and len(second.items) == 2 and first.total == 27
    assert first.items[0].received_on == TODAY


def test_the_list_and_the_counts_by_date_and_source_are_read_through_indexes(session, world):
    """The list stops at a page in its order, and a count by source over a range of dates
    (the dashboard's) reads only an index: nothing reads the table whole or sorts it."""
    from sqlalchemy import text

    from tests.services.test_indexes import caught

    for days in range(30):
        _record(session, world.facilitator, days_ago=days, source=("police", "prison")[days % 2])
    session.expire_all()
    counts = (
        select(Referral.source, func.count())
        .where(Referral.received_on.between(TODAY - timedelta(days=7), TODAY))
        .group_by(Referral.source)
    )
    with caught(session) as statements:
        referrals.referral_list(session, world.facilitator)
        referrals.referral_list(session, world.facilitator, status="referred", page=2)
        session.execute(counts).all()
        session.execute(counts.where(Referral.source == ReferralSource.PRISON)).all()
    connection = session.connection()
    unindexed = []
    for statement, parameters in statements:
        if "referrals" not in statement:
            continue
        if connection.dialect.name == "sqlite":
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            lines = [row[-1] for row in plan.all()]
            unindexed += [
                line
                for line in lines
                if (line.startswith("SCAN referrals") and "INDEX" not in line)
                or "TEMP B-TREE FOR ORDER BY" in line
            ]
        else:
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            lines = [row[0] for row in plan.all()]
            # A list is read in its order and stops at a page: it is never sorted whole
            # (a count grouped by source sorts only the range's few rows, from the index).
            ordered = "ORDER BY" in statement
            unindexed += [
                line
                for line in lines
                if "Seq Scan on referrals" in line or (ordered and "Sort  " in line)
            ]
    session.rollback()
    assert len(statements) >= 4
    assert unindexed == []
