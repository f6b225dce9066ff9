"""State-derived signals read from the database (and the rates cache).

The same numbers feed three readers, so they agree by construction: the
Prometheus collector (at scrape time), the admin "system health" page
(:func:`wallet.health.system_signals`) and the alert conditions
(:mod:`wallet.alerts.conditions`). Every function takes an open session
and only reads. Times are seconds, money is integer minor units.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from wallet.db.models.ops import OutboxMessage, OutboxStatus
from wallet.db.models.payments import Payment, PaymentEvent, Quote
from wallet.payments.states import PaymentStatus

S = PaymentStatus

# Funded and not yet at an outcome (RELIABILITY G4): these must move within the SLA.
IN_FLIGHT: frozenset[PaymentStatus] = frozenset(
    {
        S.DETECTED,
        S.CONFIRMED,
        S.SETTLING,
        S.UNDERPAID,
        S.OVERPAID,
        S.REORGED,
        S.PAYOUT_REVERSED,
    }
)
# The steps of settlement whose durations we histogram (the status entered).
SETTLEMENT_STEPS: tuple[PaymentStatus, ...] = (S.SETTLING, S.PAID_OUT, S.COMPLETED)
FLOAT_ACCOUNT = "float:INR"


def payments_by_status(session: Session) -> dict[str, int]:
    """Count of payments in every status (zero for statuses with none)."""
    counts = dict.fromkeys((s.value for s in PaymentStatus), 0)
    rows = session.execute(select(Payment.status, func.count()).group_by(Payment.status))
    for status, count in rows:
        counts[PaymentStatus(status).value] = int(count)
    return counts


def quote_to_paid_out_seconds(session: Session) -> list[float]:
    """For every payment ever paid out: seconds from its quote to its first payout."""
    first_paid = (
        select(PaymentEvent.payment_id, func.min(PaymentEvent.at).label("paid_at"))
        .where(PaymentEvent.to_status == S.PAID_OUT)
        .group_by(PaymentEvent.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(Quote.created_at, first_paid.c.paid_at)
        .join(Payment, Payment.quote_id == Quote.id)
        .join(first_paid, first_paid.c.payment_id == Payment.id)
    )
    return [max(_as_utc(paid) - quoted, timedelta(0)).total_seconds() for quoted, paid in rows]


def settlement_step_seconds(session: Session) -> list[tuple[str, float]]:
    """(step, seconds) for every settlement step taken: time spent before entering it."""
    prev = aliased(PaymentEvent)
    rows = session.execute(
        select(PaymentEvent.to_status, prev.at, PaymentEvent.at)
        .join(
            prev,
            and_(
                prev.payment_id == PaymentEvent.payment_id,
                prev.version == PaymentEvent.version - 1,
            ),
        )
        # The state machine allows these only as settlement moves.
        .where(PaymentEvent.to_status.in_(list(SETTLEMENT_STEPS)))
    )
    return [
        (
            PaymentStatus(step).value,
            max(_as_utc(at) - _as_utc(before), timedelta(0)).total_seconds(),
        )
        for step, before, at in rows
    ]


@dataclass(frozen=True)
class StuckPayment:
    payment_id: str
    status: str
    funded_at: datetime
    age_seconds: int


def stuck_payments(
    session: Session, now: datetime, sla_seconds: int, limit: int = 100
) -> list[StuckPayment]:
    """Funded payments with no outcome ``sla_seconds`` after funds were first seen."""
    funded = (
        select(PaymentEvent.payment_id, func.min(PaymentEvent.at).label("funded_at"))
        .where(PaymentEvent.to_status == S.DETECTED)
        .group_by(PaymentEvent.payment_id)
        .subquery()
    )
    cutoff = now - timedelta(seconds=sla_seconds)
    funded_at = func.coalesce(funded.c.funded_at, Payment.created_at)
    rows = session.execute(
        select(Payment.id, Payment.status, funded.c.funded_at, Payment.created_at)
        .outerjoin(funded, funded.c.payment_id == Payment.id)
        .where(Payment.status.in_(list(IN_FLIGHT)), funded_at < cutoff)
        .order_by(Payment.created_at)
        .limit(limit)
    )
    out = []
    for pid, status, funded_time, created in rows:
        at = _as_utc(funded_time) if funded_time is not None else created
        out.append(
            StuckPayment(pid, PaymentStatus(status).value, at, int((now - at).total_seconds()))
        )
    return out


def outbox_backlog(session: Session, now: datetime) -> dict[str, Any]:
    """Webhooks/notifications waiting to go out: counts by status, oldest pending age."""
    counts = dict.fromkeys((s.value for s in OutboxStatus), 0)
    for status, count in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ):
        counts[OutboxStatus(status).value] = int(count)
    oldest = session.scalar(
        select(func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING
        )
    )
    age = int((now - _as_utc(oldest)).total_seconds()) if oldest is not None else 0
    return {"counts": counts, "oldest_pending_seconds": max(age, 0)}


def ledger_float_paise(session: Session) -> int:
    """The INR float as our books see it (``float:INR``, normal side)."""
    from wallet.ledger.balances import get_balance

    return get_balance(session, FLOAT_ACCOUNT).balance


def open_pauses(session: Session) -> list[dict[str, Any]]:
    """Assets whose new quotes are paused by a circuit breaker, with why."""
    from wallet.rates.models import AssetPause

    rows = session.scalars(select(AssetPause).where(AssetPause.resumed_at.is_(None)))
    return [
        {"asset": r.asset, "reason": r.reason, "paused_at": _as_utc(r.paused_at).isoformat()}
        for r in rows
    ]


def scan_cursors(session: Session) -> dict[str, int]:
    """The last block each chain scanner finished (name → height); empty if none ran."""
    from wallet.chains.models import ScanCursor

    try:
        return {r.name: int(r.height) for r in session.scalars(select(ScanCursor))}
    except Exception:  # the chains migration may not be applied on this database yet
        session.rollback()
        return {}


def rates_age_seconds(cache: Any, assets: Iterable[str], now: datetime) -> dict[str, int | None]:
    """Age of each asset's cached aggregated rate; None when there is none at all."""
    out: dict[str, int | None] = {}
    for asset in assets:
        rate = cache.get_rate(asset)
        out[asset] = None if rate is None else int((now - rate.observed_at).total_seconds())
    return out


def histogram(values: Sequence[float], buckets: Sequence[float]) -> tuple[list[int], float]:
    """Cumulative bucket counts (with +Inf last) and the sum, as Prometheus wants them."""
    counts = [sum(1 for v in values if v <= b) for b in buckets]
    counts.append(len(values))
    return counts, float(sum(values))


def _as_utc(value: datetime) -> datetime:
    """Aggregates (``min(at)``) bypass the column type on SQLite: re-attach UTC."""
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
