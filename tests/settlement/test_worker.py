"""The warm settlement worker against the RazorpayX and exchange stand-ins."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import custodial_payment, deps_for
from wallet.db.models import Payment
from wallet.ledger import check_invariants
from wallet.observability.heartbeats import SETTLEMENT_LOOP, last_beats
from wallet.payments.states import PaymentStatus
from wallet.settlement.models import SellBatch, SellBatchItem, SellBatchStatus
from wallet.settlement.service import settle_pass
from wallet.settlement.worker import pay_confirmed, run_worker, sell_waiting

S = PaymentStatus


def _statuses(factory: sessionmaker[Session], ids: list[str]) -> dict[str, PaymentStatus]:
    with factory() as s:
        return dict(s.execute(select(Payment.id, Payment.status).where(Payment.id.in_(ids))).all())


def _until(factory: sessionmaker[Session], ids: list[str], status: PaymentStatus) -> None:
    deadline = time.monotonic() + 60
    while set(_statuses(factory, ids).values()) != {status}:
        assert time.monotonic() < deadline, _statuses(factory, ids)
        time.sleep(0.05)


def _booked(factory: sessionmaker[Session]) -> list[tuple[str, int]]:
    """Booked sell batches: (asset, payments in the batch)."""
    with factory() as s:
        rows = s.execute(
            select(SellBatch.asset, func.count(SellBatchItem.id))
            .join(SellBatchItem, SellBatchItem.batch_id == SellBatch.id)
            .where(SellBatch.status == SellBatchStatus.BOOKED)
            .group_by(SellBatch.id, SellBatch.asset)
        ).all()
    return [(str(a), int(n)) for a, n in rows]


def test_the_worker_pays_each_payment_once_and_sells_once_the_venue_minimum_is_met(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    assert pay_confirmed(deps) is None  # nothing confirmed: one query, nothing else
    assert sell_waiting(deps) is None  # nothing to sell: one query, no venue call
    # ₹200 + ₹200 of SOL is about $4.5: under the venue's $5 minimum order.
    first = [custodial_payment(factory, inr_paise=20_000) for _ in range(2)]
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(lambda: deps, stop), kwargs={"poll_s": 0.05})
    worker.start()
    try:
        _until(factory, first, S.PAID_OUT)  # the vendors are paid at once...
        time.sleep(0.5)
        assert _statuses(factory, first) == dict.fromkeys(first, S.PAID_OUT)
        assert _booked(factory) == []  # ...and the dust waits for volume, unsold
        later = custodial_payment(factory, inr_paise=30_000)  # confirmed while it runs
        ids = [*first, later]
        _until(factory, ids, S.COMPLETED)  # the three sell together, in one batch
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    assert _booked(factory) == [("SOL", 3)]
    with factory() as s:
        assert SETTLEMENT_LOOP in last_beats(s)  # the loop said it was alive
    for pid in ids:
        assert [p.status.value for p in deps.payouts.find_payouts(pid)] == ["processed"]
    # A Dagster run beside it (the safety net) pays nobody twice and sells nothing twice.
    report = settle_pass(deps, ids)
    assert report.statuses == dict.fromkeys(ids, "completed")
    assert _booked(factory) == [("SOL", 3)]
    for pid in ids:
        assert len(deps.payouts.find_payouts(pid)) == 1
    with factory() as s:
        check_invariants(s)
