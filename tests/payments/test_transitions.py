"""Every transition, legal and illegal, through the real transition function."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import wallet.db.models  # noqa: F401
from tests.ledger.helpers import deposit
from tests.payments.helpers import build_payment, make_payment, make_user
from wallet.db.base import Base
from wallet.db.models import AuditLog, JournalEntry, Payment, PaymentEvent, PaymentStatus
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.errors import IllegalTransition, InsufficientFunds, PaymentNotFound
from wallet.ledger import check_invariants, get_balance
from wallet.payments.states import ALLOWED_TRANSITIONS
from wallet.payments.transitions import open_payment, transition

S = PaymentStatus


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """One SQLite database for the whole module: 225 cases stay fast."""
    engine: Engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('pay') / 'wallet.db'}")
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def user_id(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return make_user(session).id


def _trace(session: Session, payment_id: str) -> tuple[int, int]:
    events = session.scalar(
        select(func.count()).select_from(PaymentEvent).where(PaymentEvent.payment_id == payment_id)
    )
    audits = session.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.subject_id == payment_id)
    )
    return int(events or 0), int(audits or 0)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_transition(factory: sessionmaker[Session], user_id: int, current: S, target: S) -> None:
    with transaction(factory) as session:
        payment_id = make_payment(session, user_id, current).id
    legal = target in ALLOWED_TRANSITIONS[current]
    with factory() as session, session.begin():
        if legal:
            moved = transition(session, payment_id, target, "test", actor="system:test")
            assert (moved.status, moved.version) == (target, 2)
        else:
            with pytest.raises(IllegalTransition) as info:
                transition(session, payment_id, target, "test", actor="system:test")
            assert info.value.code == "illegal_transition"
            assert (info.value.current, info.value.requested) == (current.value, target.value)
    with factory() as session:
        payment = session.get_one(Payment, payment_id)
        if legal:
            assert (payment.status, payment.version, payment.status_reason) == (target, 2, "test")
            event = session.scalars(
                select(PaymentEvent).where(PaymentEvent.payment_id == payment_id)
            ).one()
            assert (event.from_status, event.to_status, event.version) == (current, target, 2)
            assert _trace(session, payment_id) == (1, 1)
        else:
            assert (payment.status, payment.version) == (current, 1)
            assert _trace(session, payment_id) == (0, 0)


def test_open_payment_starts_the_timeline(factory: sessionmaker[Session], user_id: int) -> None:
    with transaction(factory) as session:
        payment = build_payment(session, user_id)
        opened = open_payment(session, payment, actor="user:1", reason="quote accepted")
        assert (opened.status, opened.version) == (S.QUOTE_ISSUED, 1)
    with factory() as session:
        event = session.scalars(
            select(PaymentEvent).where(PaymentEvent.payment_id == payment.id)
        ).one()
        assert (event.from_status, event.to_status, event.actor) == (
            None,
            S.QUOTE_ISSUED,
            "user:1",
        )
        assert _trace(session, payment.id) == (1, 1)


def test_expected_from_guards_a_stale_read(factory: sessionmaker[Session], user_id: int) -> None:
    with transaction(factory) as session:
        payment_id = make_payment(session, user_id, S.CONFIRMED).id
    with factory() as session, session.begin():
        with pytest.raises(IllegalTransition, match="not detected"):
            transition(
                session, payment_id, S.CONFIRMED, "6 confs", actor="x", expected_from=S.DETECTED
            )
        moved = transition(
            session, payment_id, S.SETTLING, "go", actor="x", expected_from=S.CONFIRMED
        )
        assert moved.status is S.SETTLING


def test_unknown_payment_and_bad_arguments(factory: sessionmaker[Session], user_id: int) -> None:
    with factory() as session, session.begin():
        with pytest.raises(PaymentNotFound):
            transition(session, "nope", S.EXPIRED, "ttl", actor="x")
        payment_id = make_payment(session, user_id).id
        with pytest.raises(IllegalTransition):
            transition(session, payment_id, "teleported", "?", actor="x")
        with pytest.raises(IllegalTransition):
            transition(session, payment_id, S.EXPIRED, "  ", actor="x")


def test_ledger_entry_lands_with_the_transition(
    factory: sessionmaker[Session], user_id: int
) -> None:
    deposit(factory, user_id, "ETH", 1000)
    wallet_code = f"user:{user_id}:wallet:ETH"
    legs = [(wallet_code, "ETH", 600), ("escrow:ethereum:ETH", "ETH", -600)]
    with transaction(factory) as session:
        payment_id = make_payment(session, user_id, S.AWAITING_FUNDS).id
    with transaction(factory) as session:
        transition(
            session, payment_id, S.DETECTED, "custodial send", actor="x", ledger_postings=legs
        )
    with factory() as session:
        event = session.scalars(
            select(PaymentEvent).where(PaymentEvent.payment_id == payment_id)
        ).one()
        entry = session.get_one(JournalEntry, event.journal_entry_id)
        assert (entry.kind, entry.ref) == ("payment.detected", f"{payment_id}:v2")
        assert get_balance(session, wallet_code).balance == 400
        check_invariants(session)


def test_a_refused_ledger_entry_leaves_the_payment_alone(
    factory: sessionmaker[Session], user_id: int
) -> None:
    wallet_code = f"user:{user_id}:wallet:ETH"
    with transaction(factory) as session:
        payment_id = make_payment(session, user_id, S.AWAITING_FUNDS).id
        before = get_balance(session, wallet_code).balance
    legs = [(wallet_code, "ETH", before + 1), ("escrow:ethereum:ETH", "ETH", -(before + 1))]
    with factory() as session, session.begin(), pytest.raises(InsufficientFunds):
        transition(session, payment_id, S.DETECTED, "x", actor="x", ledger_postings=legs)
        # The caller's transaction is still usable and commits nothing of it.
    with factory() as session:
        payment = session.get_one(Payment, payment_id)
        assert (payment.status, payment.version) == (S.AWAITING_FUNDS, 1)
        assert _trace(session, payment_id) == (0, 0)
