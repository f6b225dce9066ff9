"""Sign-up, sign-in throttling, sessions and API tokens, without Flask."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.accounts.helpers import PASSWORD, unique_email
from wallet.accounts import service, sessions, throttle, tokens
from wallet.accounts.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    LoginThrottled,
    NotFound,
    RoleNotAllowed,
    WeakPassword,
)
from wallet.accounts.models import ApiToken, LoginThrottle, UserSession
from wallet.db.base import utcnow
from wallet.db.models.ops import AuditLog
from wallet.db.models.users import Role, User
from wallet.db.session import transaction

Factory = sessionmaker[Session]


def _signup(factory: Factory, email: str | None = None, role: str = "payer") -> User:
    with transaction(factory) as db:
        return service.sign_up(db, email or unique_email(), PASSWORD, role)


def _login(
    factory: Factory, email: str, password: str, ip: str = "10.0.0.1", now: datetime | None = None
) -> User:
    """Sign in the way the web tier does: failures are committed, then raised."""
    failure: Exception | None = None
    with transaction(factory) as db:
        try:
            user = service.authenticate(db, email, password, client_ip=ip, now=now)
        except (InvalidCredentials, LoginThrottled) as exc:
            failure = exc
    if failure is not None:
        raise failure
    return user


# --- sign-up -------------------------------------------------------------------


def test_sign_up_hashes_the_password_with_argon2id(factory: Factory) -> None:
    email = unique_email("Asha").replace("asha", "Asha")
    user = _signup(factory, "  " + email.upper() + " ", role="merchant")
    with factory() as db:
        stored = db.get(User, user.id)
        assert stored is not None
        assert stored.email == email.lower()
        assert stored.role is Role.MERCHANT
        assert stored.kyc_tier == 0
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash
        actions = db.scalars(select(AuditLog.action).where(AuditLog.subject_id == str(user.id)))
        assert "account.signed_up" in list(actions)


def test_sign_up_refuses_a_second_account_for_the_same_mailbox(factory: Factory) -> None:
    email = unique_email()
    _signup(factory, email)
    with pytest.raises(EmailTaken), transaction(factory) as db:
        service.sign_up(db, email.upper(), PASSWORD, "payer")


@pytest.mark.parametrize(
    ("email", "password", "role", "error"),
    [
        ("not-an-email", PASSWORD, "payer", InvalidEmail),
        ("a@b", PASSWORD, "payer", InvalidEmail),
        ("x@example.com", "short", "payer", WeakPassword),
        ("x@example.com", "aaaaaaaaaaaa", "payer", WeakPassword),
        ("x@example.com", "password123", "payer", WeakPassword),
        ("x@example.com", "x" * 300, "payer", WeakPassword),
        ("x@example.com", PASSWORD, "admin", RoleNotAllowed),
        ("x@example.com", PASSWORD, "superuser", RoleNotAllowed),
        ("x@example.com", PASSWORD, 1, RoleNotAllowed),
    ],
)
def test_sign_up_refusals_change_nothing(
    factory: Factory, email: str, password: str, role: object, error: type[Exception]
) -> None:
    with pytest.raises(error), transaction(factory) as db:
        service.sign_up(db, email, password, role)
    with factory() as db:
        assert db.scalars(select(User).where(User.email == "x@example.com")).first() is None


def test_admins_are_created_only_by_the_seeding_path(factory: Factory) -> None:
    email = unique_email("ops")
    with transaction(factory) as db:
        admin = service.create_user(db, email, PASSWORD, Role.ADMIN)
    assert _login(factory, email, PASSWORD).id == admin.id


# --- sign-in and throttling ----------------------------------------------------------


def test_sign_in_accepts_the_right_password_only(factory: Factory) -> None:
    email = unique_email()
    user = _signup(factory, email)
    assert _login(factory, email.upper(), PASSWORD).id == user.id
    with pytest.raises(InvalidCredentials):
        _login(factory, email, PASSWORD + "!")
    with pytest.raises(InvalidCredentials):
        _login(factory, unique_email("nobody"), PASSWORD)
    with pytest.raises(InvalidCredentials):
        _login(factory, email, None)  # type: ignore[arg-type]


def test_throttle_backs_off_per_account_and_address_without_locking_out(factory: Factory) -> None:
    email = unique_email()
    _signup(factory, email)
    now = utcnow()
    attacker, owner = "203.0.113.9", "198.51.100.7"
    free = throttle.ACCOUNT_IP.free_failures
    for i in range(free - 1):
        with pytest.raises(InvalidCredentials):
            _login(factory, email, f"guess-{i}-xxxxx", ip=attacker, now=now)
    # The allowance-th failure starts the backoff (1 s), the next one doubles it.
    with pytest.raises(InvalidCredentials):
        _login(factory, email, "guess-last-xxxxx", ip=attacker, now=now)
    with pytest.raises(LoginThrottled) as info:
        _login(factory, email, PASSWORD, ip=attacker, now=now)  # even the right password waits
    assert info.value.retry_after == 1
    # A refused attempt is not counted: waiting out the delay is enough.
    later = now + timedelta(seconds=1)
    with pytest.raises(InvalidCredentials):
        _login(factory, email, "guess-again-xxx", ip=attacker, now=later)
    with pytest.raises(LoginThrottled) as info:
        _login(factory, email, PASSWORD, ip=attacker, now=later)
    assert info.value.retry_after == 2

    # Meanwhile the owner, on their own network, signs in at once.
    assert _login(factory, email, PASSWORD, ip=owner, now=later).email == email
    # And on the attacker's network after the (bounded) wait; success clears the count.
    assert _login(factory, email, PASSWORD, ip=attacker, now=later + timedelta(seconds=2))
    with factory() as db:
        key = throttle._keys(email, attacker)[0][1]
        assert db.get(LoginThrottle, key) is None


def test_backoff_is_capped() -> None:
    scope = throttle.ACCOUNT_IP
    delays = [throttle.delay_after(n, scope) for n in range(0, 40)]
    assert delays[: scope.free_failures] == [timedelta(0)] * scope.free_failures
    assert delays[scope.free_failures] == timedelta(seconds=1)
    assert delays[scope.free_failures + 3] == timedelta(seconds=8)
    assert max(delays) == throttle.MAX_DELAY
    assert delays == sorted(delays)


def test_address_wide_throttle_slows_credential_stuffing(factory: Factory) -> None:
    email = unique_email()
    _signup(factory, email)
    now = utcnow()
    stuffer = "192.0.2.44"
    for i in range(throttle.IP.free_failures):
        with pytest.raises(InvalidCredentials):
            _login(factory, unique_email(f"victim{i}"), "whatever-xxxx", ip=stuffer, now=now)
    with pytest.raises(LoginThrottled):
        _login(factory, email, PASSWORD, ip=stuffer, now=now)
    assert _login(factory, email, PASSWORD, ip="192.0.2.45", now=now).email == email


def test_old_failures_are_forgotten(factory: Factory) -> None:
    email = unique_email()
    _signup(factory, email)
    then = utcnow() - throttle.FAILURE_MEMORY - timedelta(minutes=1)
    for i in range(throttle.ACCOUNT_IP.free_failures + 2):
        with pytest.raises((InvalidCredentials, LoginThrottled)):
            _login(factory, email, f"old-guess-{i}-xx", ip="10.9.9.9", now=then)
    now = utcnow()
    with pytest.raises(InvalidCredentials):  # counted afresh, not throttled
        _login(factory, email, "new-guess-xxxxx", ip="10.9.9.9", now=now)
    with factory() as db:
        row = db.get(LoginThrottle, throttle._keys(email, "10.9.9.9")[0][1])
        assert row is not None and row.failures == 1


def test_sign_in_upgrades_an_outdated_hash(factory: Factory) -> None:
    from argon2 import PasswordHasher

    email = unique_email()
    user = _signup(factory, email)
    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
    with transaction(factory) as db:
        row = db.get(User, user.id)
        assert row is not None
        row.password_hash = weak
    _login(factory, email, PASSWORD)
    with factory() as db:
        row = db.get(User, user.id)
        assert row is not None and row.password_hash != weak
        assert row.password_hash.startswith("$argon2id$")


# --- sessions ---------------------------------------------------------------------------


def test_sessions_are_stored_hashed_and_end_on_the_server(factory: Factory) -> None:
    user = _signup(factory)
    with transaction(factory) as db:
        first = sessions.start_session(db, user, ip="10.0.0.1", user_agent="phone")
        second = sessions.start_session(db, user, ip="10.0.0.2", user_agent="laptop")
    assert first.token != second.token
    with factory() as db:
        stored = db.scalars(select(UserSession.token_hash)).all()
        assert first.token not in stored and sessions.hash_token(first.token) in stored
    with transaction(factory) as db:
        row = sessions.resolve_session(db, first.token)
        assert row is not None and row.user_id == user.id
        sessions.end_session(db, row)
    with transaction(factory) as db:
        assert sessions.resolve_session(db, first.token) is None
        assert sessions.resolve_session(db, second.token) is not None


def test_sign_out_everywhere_keeps_only_the_chosen_session(factory: Factory) -> None:
    user = _signup(factory)
    other = _signup(factory)
    with transaction(factory) as db:
        mine = [sessions.start_session(db, user) for _ in range(3)]
        theirs = sessions.start_session(db, other)
    with transaction(factory) as db:
        assert sessions.end_all_sessions(db, user.id, keep=mine[0].row) == 2
    with transaction(factory) as db:
        assert sessions.resolve_session(db, mine[0].token) is not None
        assert all(sessions.resolve_session(db, s.token) is None for s in mine[1:])
        assert sessions.resolve_session(db, theirs.token) is not None


def test_sessions_expire_when_idle_or_old(factory: Factory) -> None:
    user = _signup(factory)
    now = utcnow()
    with transaction(factory) as db:
        new = sessions.start_session(db, user, now=now)
    with transaction(factory) as db:
        idle = now + sessions.IDLE_TIMEOUT + timedelta(seconds=1)
        assert sessions.resolve_session(db, new.token, now=idle) is None
        assert sessions.resolve_session(db, new.token, now=now + timedelta(hours=1)) is not None
        too_old = now + sessions.ABSOLUTE_LIFETIME
        assert sessions.resolve_session(db, new.token, now=too_old) is None
    for junk in (None, "", "x" * 500, 42):
        with factory() as db:
            assert sessions.resolve_session(db, junk) is None


def test_a_user_cannot_end_another_users_session(factory: Factory) -> None:
    alice, bob = _signup(factory), _signup(factory)
    with transaction(factory) as db:
        bobs = sessions.start_session(db, bob)
    with pytest.raises(NotFound), transaction(factory) as db:
        sessions.end_own_session(db, alice.id, bobs.row.id)
    with transaction(factory) as db:
        assert sessions.resolve_session(db, bobs.token) is not None


def test_reauthentication_window(factory: Factory) -> None:
    user = _signup(factory)
    now = utcnow()
    with transaction(factory) as db:
        new = sessions.start_session(db, user, now=now - timedelta(hours=1))
    row = new.row
    assert not sessions.recently_authenticated(row, now=now)
    with pytest.raises(InvalidCredentials), transaction(factory) as db:
        sessions.reauthenticate(db, db.get(UserSession, row.id), user, "wrong-password")  # type: ignore[arg-type]
    with transaction(factory) as db:
        live = db.get(UserSession, row.id)
        assert live is not None
        sessions.reauthenticate(db, live, user, PASSWORD, now=now)
        assert sessions.recently_authenticated(live, now=now + timedelta(minutes=4))
        assert not sessions.recently_authenticated(live, now=now + timedelta(minutes=6))


# --- API tokens ---------------------------------------------------------------------------


def test_tokens_are_shown_once_and_stored_hashed(factory: Factory) -> None:
    user = _signup(factory)
    with transaction(factory) as db:
        issued = tokens.issue_token(db, user, "ci")
    assert issued.token.startswith("tfw_") and len(issued.token) == 47
    with factory() as db:
        row = db.get(ApiToken, issued.row.id)
        assert row is not None
        assert issued.token not in (row.token_hash, row.prefix, row.name)
        assert row.token_hash == tokens.hash_token(issued.token)
        assert issued.token.startswith(row.prefix)
    with transaction(factory) as db:
        found = tokens.authenticate_token(db, issued.token)
        assert found is not None and found[0].id == user.id
        tampered = issued.token[:-1] + ("B" if issued.token.endswith("A") else "A")
        assert tokens.authenticate_token(db, tampered) is None
        assert tokens.authenticate_token(db, "tfw_short") is None
        assert tokens.authenticate_token(db, None) is None


def test_revoked_and_expired_tokens_stop_working(factory: Factory) -> None:
    user = _signup(factory)
    now = utcnow()
    with transaction(factory) as db:
        revoked = tokens.issue_token(db, user)
        expiring = tokens.issue_token(db, user, expires_at=now + timedelta(minutes=5))
    with transaction(factory) as db:
        tokens.revoke_token(db, user.id, revoked.row.id)
    with transaction(factory) as db:
        assert tokens.authenticate_token(db, revoked.token) is None
        assert tokens.authenticate_token(db, expiring.token, now=now) is not None
        assert tokens.authenticate_token(db, expiring.token, now=now + timedelta(minutes=5)) is None
        assert [t.id for t in tokens.list_tokens(db, user.id)] == [expiring.row.id]


def test_a_user_cannot_see_or_revoke_another_users_token(factory: Factory) -> None:
    alice, bob = _signup(factory), _signup(factory)
    with transaction(factory) as db:
        bobs = tokens.issue_token(db, bob)
    with factory() as db:
        assert tokens.list_tokens(db, alice.id) == []
    with pytest.raises(NotFound), transaction(factory) as db:
        tokens.revoke_token(db, alice.id, bobs.row.id)
    with transaction(factory) as db:
        assert tokens.authenticate_token(db, bobs.token) is not None
