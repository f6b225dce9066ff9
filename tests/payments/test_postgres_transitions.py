"""The payment row lock on PostgreSQL: racing transitions, exactly one wins."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.payments.helpers import make_payment, make_user
from wallet.db.models import Payment, PaymentEvent, PaymentStatus
from wallet.db.session import transaction
from wallet.errors import IllegalTransition
from wallet.payments.transitions import transition

pytestmark = pytest.mark.postgres

RACERS = 8


def test_concurrent_settlement_starts_exactly_once(pg_factory: sessionmaker[Session]) -> None:
    """Several settlement runs see ``confirmed`` and race to start settling."""
    with transaction(pg_factory) as session:
        user_id = make_user(session).id
        payment_id = make_payment(session, user_id, PaymentStatus.CONFIRMED).id
    start = threading.Barrier(RACERS)
    results: list[str] = []
    lock = threading.Lock()

    def racer(n: int) -> None:
        start.wait()
        try:
            with transaction(pg_factory) as session:
                transition(
                    session,
                    payment_id,
                    PaymentStatus.SETTLING,
                    f"run {n}",
                    actor=f"system:settlement:{n}",
                    expected_from=PaymentStatus.CONFIRMED,
                )
            outcome = "moved"
        except IllegalTransition:
            outcome = "refused"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(results) == ["moved"] + ["refused"] * (RACERS - 1)
    with pg_factory() as session:
        payment = session.get_one(Payment, payment_id)
        assert (payment.status, payment.version) == (PaymentStatus.SETTLING, 2)
        events = session.scalar(
            select(func.count())
            .select_from(PaymentEvent)
            .where(PaymentEvent.payment_id == payment_id)
        )
        assert events == 1
