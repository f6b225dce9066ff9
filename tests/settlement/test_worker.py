"""The warm settlement worker against the RazorpayX and exchange stand-ins."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import custodial_payment, deps_for
from wallet.db.models import Payment
from wallet.ledger import check_invariants
from wallet.payments.states import PaymentStatus
from wallet.settlement.service import settle_pass
from wallet.settlement.worker import pay_confirmed, run_worker

S = PaymentStatus


def _statuses(factory: sessionmaker[Session], ids: list[str]) -> dict[str, PaymentStatus]:
    with factory() as s:
        return dict(s.execute(select(Payment.id, Payment.status).where(Payment.id.in_(ids))).all())


def test_the_worker_pays_each_confirmed_payment_once_and_leaves_the_sell_to_dagster(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    assert pay_confirmed(deps) is None  # nothing confirmed: one query, nothing else
    first = [custodial_payment(factory, inr_paise=20_000 + n) for n in range(2)]
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(lambda: deps, stop), kwargs={"poll_s": 0.05})
    worker.start()
    try:
        later = custodial_payment(factory, inr_paise=30_000)  # confirmed while it runs
        ids = [*first, later]
        deadline = time.monotonic() + 60
        while set(_statuses(factory, ids).values()) != {S.PAID_OUT}:
            assert time.monotonic() < deadline, _statuses(factory, ids)
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    for pid in ids:
        assert [p.status.value for p in deps.payouts.find_payouts(pid)] == ["processed"]
    # A Dagster run beside it (the safety net) pays nobody twice, then sells and completes.
    report = settle_pass(deps, ids)
    assert report.statuses == dict.fromkeys(ids, "completed")
    for pid in ids:
        assert len(deps.payouts.find_payouts(pid)) == 1
    with factory() as s:
        check_invariants(s)
