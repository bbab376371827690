"""Attacks on accounts found by review: keys left in ended sessions, old reset links,
a lockout raced by concurrent guesses, and Argon2id limits that never catch up."""

import dataclasses
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from relay import crypto
from relay.models import AuditEntry
from relay.models import PasswordReset
from relay.models import User
from relay.models import UserSession
from relay.models import utcnow
from relay.services import errors
from relay.services import password_reset
from relay.services import signing_in
from relay.services.errors import InvalidInput
from tests.conftest import PEOPLE

VICTIM_EMAIL, _NAME, VICTIM_PASSWORD = PEOPLE["victim"]


def _sealed_keys_of_ended_sessions(session) -> list[int]:
    session.expire_all()
    return session.scalars(
        select(UserSession.id).where(
            UserSession.revoked_at.is_not(None), UserSession.sealed_private_key.is_not(None)
        )
    ).all()


def test_sign_out_leaves_no_sealed_private_key_in_the_database(client, auth, world, session):
    # The attack: a database copy plus SESSION_KEY opens the key of everyone who ever
    # signed in, because ended sessions kept it.
    auth.sign_in("victim")
    auth.sign_out()
    auth.sign_in("facilitator")
    client.post("/account/sessions/end-all")
    assert _sealed_keys_of_ended_sessions(session) == []
    ended = session.scalars(select(UserSession).where(UserSession.revoked_at.is_not(None))).all()
    assert len(ended) >= 2
    assert all(r.sealed_pending_totp_secret is None for r in ended)


def test_expired_sessions_lose_their_key_without_being_visited(
    client, auth, world, session, settings
):
    auth.sign_in("victim")
    session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=16)))
    session.commit()
    # Nobody comes back to the idle session; the next sign-in by anyone sweeps it.
    signing_in.sign_in(
        session, settings, email=PEOPLE["offender"][0], password=PEOPLE["offender"][2]
    )
    session.expire_all()
    victim = session.scalar(select(User).where(User.email == VICTIM_EMAIL))
    victims = session.scalars(select(UserSession).where(UserSession.user_id == victim.id)).all()
    assert victims
    assert all(r.sealed_private_key is None and r.revoked_at is not None for r in victims)


def test_old_ended_session_rows_are_deleted(client, auth, world, session, settings):
    auth.sign_in("victim")
    auth.sign_out()
    session.execute(update(UserSession).values(revoked_at=utcnow() - timedelta(days=2)))
    session.commit()
    ended = session.scalar(select(func.count(UserSession.id)))
    assert ended > 0
    assert signing_in.end_expired_sessions(session, settings) >= 0
    session.expire_all()
    assert (
        session.scalar(select(func.count(UserSession.id)).where(UserSession.revoked_at < utcnow()))
        == 0
    )


def test_a_reset_wipes_the_keys_of_every_session(client, auth, world, session, settings):
    auth.sign_in("victim")
    password_reset.request_password_reset(session, settings, email=VICTIM_EMAIL)
    reset = session.scalars(select(PasswordReset)).all()[-1]
    token = "x"
    # Use the service with a token we know: replace the digest as a mailbox would give it.
    reset.token_digest = crypto.token_digest(token)
    session.commit()
    password_reset.reset_password_without_code(
        session, settings, token=token, new_password="a brand new long password"
    )
    assert _sealed_keys_of_ended_sessions(session) == []
    victim = session.scalar(select(User).where(User.email == VICTIM_EMAIL))
    assert (
        session.scalars(
            select(UserSession).where(
                UserSession.user_id == victim.id, UserSession.sealed_private_key.is_not(None)
            )
        ).all()
        == []
    )


def _reset_token(session, settings, email: str, token: str) -> None:
    password_reset.request_password_reset(session, settings, email=email)
    reset = session.scalars(select(PasswordReset).order_by(PasswordReset.id)).all()[-1]
    reset.token_digest = crypto.token_digest(token)
    session.commit()


def test_using_a_reset_link_ends_every_other_open_link(world, session, settings):
    _reset_token(session, settings, VICTIM_EMAIL, "first-link")
    _reset_token(session, settings, VICTIM_EMAIL, "second-link")
    password_reset.reset_password_without_code(
        session, settings, token="second-link", new_password="a brand new long password"
    )
    with pytest.raises(InvalidInput):
        password_reset.open_password_reset(session, "first-link")


def test_concurrent_guesses_cannot_outrun_the_lockout(app, world, settings):
    # The attack: a burst of concurrent sign-ins each read the failure count before any
    # wrote it, so 15 passwords were checked against a limit of 5.
    sessions = app.extensions["relay.sessionmaker"]
    guesses = 15
    barrier = threading.Barrier(guesses)
    outcomes: list[str] = []

    def guess(n: int) -> None:
        with sessions() as session:
            barrier.wait()
            try:
                signing_in.sign_in(
                    session, settings, email=VICTIM_EMAIL, password=f"wrong guess {n}"
                )
            except errors.TooManyAttempts:
                outcomes.append("refused")
            except errors.SignInFailed:
                outcomes.append("checked")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == guesses
    assert outcomes.count("checked") <= settings.lockout_after_failures
    with sessions() as session:
        failed = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sign_in.failed")
        ).all()
    assert len(failed) <= settings.lockout_after_failures


def test_a_locked_address_costs_no_argon2_run(world, session, settings, monkeypatch):
    for n in range(settings.lockout_after_failures):
        with pytest.raises(errors.SignInFailed):
            signing_in.sign_in(session, settings, email=VICTIM_EMAIL, password=f"wrong {n}")
    runs = []
    monkeypatch.setattr(
        crypto,
        "derive_password_keys",
        lambda *a, **k: (
            runs.append(1)
            or (_ for _ in ()).throw(AssertionError("Argon2id ran for a locked address"))
        ),
    )
    with pytest.raises(errors.TooManyAttempts):
        signing_in.sign_in(session, settings, email=VICTIM_EMAIL, password=VICTIM_PASSWORD)
    assert runs == []


def test_keys_are_re_sealed_at_the_configured_limits_when_they_rise(world, session, settings):
    victim = session.scalar(select(User).where(User.email == VICTIM_EMAIL))
    old_salt = victim.password_salt
    assert (victim.kdf_opslimit, victim.kdf_memlimit) == (
        settings.kdf_limits.opslimit,
        settings.kdf_limits.memlimit,
    )
    raised = dataclasses.replace(
        settings,
        kdf_limits=crypto.KdfLimits(settings.kdf_limits.opslimit + 1, settings.kdf_limits.memlimit),
    )
    signing_in.sign_in(session, raised, email=VICTIM_EMAIL, password=VICTIM_PASSWORD)
    session.expire_all()
    victim = session.get(User, victim.id)
    assert victim.kdf_opslimit == raised.kdf_limits.opslimit
    assert victim.password_salt != old_salt
    # The new sealing opens with the same password, and the key pair is the same.
    signed_in = signing_in.sign_in(session, raised, email=VICTIM_EMAIL, password=VICTIM_PASSWORD)
    actor = signing_in.resume_session(session, raised, signed_in.token)
    assert crypto.public_key_of(actor.private_key) == victim.public_key


def test_the_decoy_for_an_unknown_address_runs_the_configured_limits(
    world, session, settings, monkeypatch
):
    seen = []
    real = crypto.derive_password_keys

    def spy(password, salt, limits):
        seen.append(limits)
        return real(password, salt, limits)

    monkeypatch.setattr(crypto, "derive_password_keys", spy)
    with pytest.raises(errors.SignInFailed):
        signing_in.sign_in(session, settings, email="nobody@relay.test", password="whatever")
    assert seen == [settings.kdf_limits]
