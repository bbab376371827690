"""Two facilitators open a case from one referral at once on PostgreSQL (relay/services/
referrals.py `open_case_from_referral`): one case is opened and linked, the other is
refused, and nothing is left half done; and a decline recorded at the same moment as
the case is either kept before it or refused after it, never written over the case."""

import pytest
from sqlalchemy import func
from sqlalchemy import select

from relay.models import AuditEntry
from relay.models import Case
from relay.models import Referral
from relay.models import ReferralStatus
from relay.models import utcnow
from relay.services import referrals
from relay.services.errors import InvalidTransition
from tests.concurrency.harness import race
from tests.factories import PEOPLE
from tests.factories import actor_for

pytestmark = pytest.mark.slow

ROUNDS = 5


def _as_facilitator(app, settings, work):
    """`work(session, actor, ready)` in a session of its own, signed in on its own."""

    def act(ready):
        with app.extensions["relay.sessionmaker"]() as own:
            email, _name, password = PEOPLE["facilitator"]
            actor = actor_for(own, settings, email, password)
            ready.wait()
            return work(own, actor)

    return act


def _opening(app, settings, referral_id, reference):
    return _as_facilitator(
        app,
        settings,
        lambda own, actor: (
            referrals.open_case_from_referral(own, actor, referral_id, reference=reference).id
        ),
    )


def _declining(app, settings, referral_id):
    return _as_facilitator(
        app,
        settings,
        lambda own, actor: (
            referrals.record_outcome(
                own, actor, referral_id, status="declined", decline_reason="not_ready"
            ).status
        ),
    )


def _new_referral(session, world):
    return referrals.record_referral(
        session,
        world.facilitator,
        received_on=utcnow().date(),
        source="police",
        offence_category="theft",
        today=utcnow().date(),
    ).id


def test_two_openings_at_once_make_one_case(app, session, settings, world):
    for round_number in range(ROUNDS):
        referral_id = _new_referral(session, world)
        results = race(
            _opening(app, settings, referral_id, f"RACE-{round_number}-A"),
            _opening(app, settings, referral_id, f"RACE-{round_number}-B"),
        )
        opened = [r for r in results if isinstance(r, int)]
        refused = [r for r in results if isinstance(r, InvalidTransition)]
        assert len(opened) == 1 and len(refused) == 1, results
        session.expire_all()
        referral = session.get(Referral, referral_id)
        assert referral.case_id == opened[0]
        assert referral.status == ReferralStatus.TOOK_PART
        made = session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.reference.like(f"RACE-{round_number}-%"))
        )
        assert made == 1
        linked = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "case.opened_from_referral", AuditEntry.case_id == opened[0]
            )
        )
        assert linked == 1


def test_a_decline_racing_the_case_never_overwrites_it(app, session, settings, world):
    for round_number in range(ROUNDS):
        referral_id = _new_referral(session, world)
        opened, declined = race(
            _opening(app, settings, referral_id, f"DECLINE-{round_number}"),
            _declining(app, settings, referral_id),
        )
        assert isinstance(opened, int), opened
        assert declined == ReferralStatus.DECLINED or isinstance(declined, InvalidTransition)
        session.expire_all()
        referral = session.get(Referral, referral_id)
        assert referral.status == ReferralStatus.TOOK_PART and referral.case_id == opened
        assert referral.decline_reason is None
