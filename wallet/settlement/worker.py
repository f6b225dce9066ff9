"""The warm settlement worker: pays a confirmed payment's vendor within a second.

A Dagster run is a fresh process that imports the whole code location
(about 4 s of CPU on 2 cores) before its first line of settlement code, so a
run per payment made "confirm → vendor paid" mostly process start-up (bench
(2)). This worker is one long-lived process that already holds its clients:
it looks for ``confirmed`` payments every :data:`POLL_S` (one indexed query;
``payments.status``) and pays them with :func:`~wallet.settlement.service.settle_pass`,
which is safe to run beside Dagster's runs: each payment is taken under its
row lock, attempts are committed before any outside call and looked up before
any retry, so a payment is paid once whoever gets there first.

It pays first (``sell=False``: the vendor must not wait for an exchange),
then sells what is waiting (:func:`sell_waiting`): once per sell window, and
after every pass that paid someone, in batches per asset and window as the
Dagster settlement runs do (at most one batch per asset per window, so
selling more often does not place more orders). A sale below the venue's
minimum is dissolved and waits for volume; checking it once per window
costs a ticker call, where Dagster's safety net launched a run process every
minute for as long as such dust waited (``make run``'s demo payment is
dust: ₹250 of SOL is under the exchange's $5 minimum). Dagster's runs stay
the safety net for anything this worker misses (it is down, a payout was
ambiguous, a sale failed): with the worker running, the payments sensor
re-requests unsold payments only after
:data:`sensors.payments.SAFETY_NET_SELL_AFTER_S`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.db.models.payments import Payment
from wallet.observability.heartbeats import SETTLEMENT_LOOP, Heart
from wallet.payments.states import PaymentStatus
from wallet.settlement.models import SellBatch
from wallet.settlement.selling import sellable_assets, window_key
from wallet.settlement.service import SettlementDeps, SettleReport, sell_pass, settle_pass

log = logging.getLogger(__name__)

POLL_S = 0.25  # between looks for confirmed payments
BATCH = 50  # payments per pass; their payouts are sent and then awaited together
ERROR_PAUSE_S = 5.0  # after a pass that raised (the database or a client down)


def confirmed_ids(session: Session, limit: int = BATCH) -> list[str]:
    """Confirmed payments, oldest first: what the worker pays next."""
    return list(
        session.scalars(
            select(Payment.id)
            .where(Payment.status == PaymentStatus.CONFIRMED)
            .order_by(Payment.updated_at, Payment.id)
            .limit(limit)
        )
    )


def pay_confirmed(deps: SettlementDeps, limit: int = BATCH) -> SettleReport | None:
    """One pass: pay every confirmed payment found (None when there was none)."""
    with deps.factory() as session:
        ids = confirmed_ids(session, limit)
    if not ids:
        return None
    report = settle_pass(deps, ids, sell=False)
    log.info("settlement worker: %d payment(s): %s", len(ids), report.statuses)
    return report


def sell_waiting(deps: SettlementDeps) -> list[SellBatch] | None:
    """Sell every asset's waiting crypto (None when nothing waits: one query)."""
    with deps.factory() as session:
        if not sellable_assets(session):
            return None
    booked = sell_pass(deps)
    if booked:
        log.info("settlement worker: sold %s", {b.asset: b.id for b in booked})
    return booked


def run_worker(
    deps: Callable[[], SettlementDeps],
    stop: threading.Event,
    *,
    poll_s: float = POLL_S,
    error_pause_s: float = ERROR_PAUSE_S,
    pulse_dir: Path | None = None,
) -> None:
    """Pay confirmed payments and sell, until ``stop`` is set; an error pauses, never stops, it."""
    built = deps()
    heart = Heart(built.factory, SETTLEMENT_LOOP, pulse_dir=pulse_dir)
    sold_in: str | None = None  # the sell window last looked at
    while not stop.is_set():
        heart.pulse()  # every pass, failed or not: the liveness probe looks for hangs
        try:
            busy = pay_confirmed(built) is not None
            window = window_key(built.clock(), built.config.sell_window_seconds)
            if busy or window != sold_in:
                sold_in = window
                sell_waiting(built)
            heart.maybe_beat()  # after a pass that worked: a failing loop falls silent
        except Exception:
            log.exception("settlement worker pass failed; the payments sensor stays the net")
            stop.wait(error_pause_s)
            continue
        if not busy:
            stop.wait(poll_s)
