"""Idempotency keys, the audit helper and the retry helper."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tests.payments.helpers import make_user
from wallet.audit import record, trail
from wallet.db.retry import is_retryable, run_in_transaction
from wallet.db.session import transaction
from wallet.errors import IdempotencyInFlight, IdempotencyKeyReused, WalletError
from wallet.idempotency import claim, hash_request, store_response


def test_a_replayed_key_returns_the_first_response(sqlite_factory: sessionmaker[Session]) -> None:
    body = {"quote_id": "q1", "asset": "ETH"}
    fingerprint = hash_request("post", "/api/v1/payments", body)
    with transaction(sqlite_factory) as session:
        user_id = make_user(session).id
        assert claim(session, user_id=user_id, key="k-1", request_hash=fingerprint) is None
        store_response(session, user_id=user_id, key="k-1", status=201, body={"id": "p1"})
    with transaction(sqlite_factory) as session:
        replay = claim(session, user_id=user_id, key="k-1", request_hash=fingerprint)
        assert replay is not None and (replay.status, replay.body) == (201, {"id": "p1"})
        # Key order in the JSON body does not matter; the body does.
        same = hash_request("POST", "/api/v1/payments", {"asset": "ETH", "quote_id": "q1"})
        assert same == fingerprint
        with pytest.raises(IdempotencyKeyReused) as info:
            claim(session, user_id=user_id, key="k-1", request_hash=hash_request("POST", "/x", {}))
        assert info.value.code == "idempotency_key_reused"


def test_a_key_in_flight_is_refused(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as session:
        user_id = make_user(session).id
        assert claim(session, user_id=user_id, key="k", request_hash="h") is None
        with pytest.raises(IdempotencyInFlight):
            claim(session, user_id=user_id, key="k", request_hash="h")


@pytest.mark.parametrize("key", ["", "x" * 256, "bad\nkey"])
def test_malformed_keys_are_refused(sqlite_factory: sessionmaker[Session], key: str) -> None:
    with sqlite_factory() as session, pytest.raises(WalletError, match="Idempotency-Key"):
        claim(session, user_id=1, key=key, request_hash="h")


def test_audit_trail(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as session:
        record(session, actor="admin:1", action="user.freeze", subject_type="user", subject_id=7)
        record(
            session,
            actor="admin:1",
            action="user.thaw",
            subject_type="user",
            subject_id=7,
            data={"note": "kyc ok"},
        )
        record(session, actor="admin:1", action="user.freeze", subject_type="user", subject_id=8)
    with sqlite_factory() as session:
        rows = trail(session, "user", 7)
    assert [(r.action, r.data) for r in rows] == [
        ("user.freeze", {}),
        ("user.thaw", {"note": "kyc ok"}),
    ]


def _locked() -> OperationalError:
    return OperationalError("stmt", {}, sqlite3.OperationalError("database is locked"))


def test_retry_runs_again_after_a_lost_race(sqlite_factory: sessionmaker[Session]) -> None:
    calls = 0

    def flaky(session: Session) -> str:
        nonlocal calls
        calls += 1
        record(session, actor="t", action=f"try{calls}", subject_type="t", subject_id=1)
        if calls < 3:
            raise _locked()
        return "ok"

    assert run_in_transaction(sqlite_factory, flaky, base_delay=0) == "ok"
    assert calls == 3
    with sqlite_factory() as session:
        # Only the last run committed.
        assert [r.action for r in trail(session, "t", 1)] == ["try3"]


def test_retry_gives_up_and_never_retries_domain_errors(
    sqlite_factory: sessionmaker[Session],
) -> None:
    def always_locked(session: Session) -> None:
        raise _locked()

    with pytest.raises(OperationalError):
        run_in_transaction(sqlite_factory, always_locked, retries=2, base_delay=0)

    calls = 0

    def refused(session: Session) -> None:
        nonlocal calls
        calls += 1
        raise WalletError("no")

    with pytest.raises(WalletError):
        run_in_transaction(sqlite_factory, refused)
    assert calls == 1
    assert not is_retryable(ValueError("database is locked"))
