"""Settling payments: the steps a run performs, each idempotent and resumable.

:func:`settle_payment` takes one payment as far as it can go now:

1. *Reserve/collect* — a ``confirmed`` payment moves to ``settling`` in one
   transaction with its collect and obligation entries; a settlement row
   and the attempt row (id = the payout's idempotency key) are committed
   before any outside call.
2. *Payout* — look the payout up, send it if it does not exist, store the
   answer (see :mod:`wallet.settlement.payouts`), then poll briefly for the
   outcome; webhooks and the payments sensor carry on from there.
3. A terminally failed attempt is followed by a new one (new key), up to
   ``max_payout_attempts``; after that the payment is held for review. A
   UPI payout refused for the VPA switches to IMPS to the merchant's bank
   account on file (:mod:`wallet.settlement.imps`), once, beyond the cap.

:func:`settle_pass` settles a list of payments and then sells what was
collected (:mod:`wallet.settlement.selling`), which completes paid-out
payments. Running either twice, concurrently, or after a crash at any
point does no external action twice (RELIABILITY G3).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from wallet.alerts import Alert, AlertSink, Severity
from wallet.audit import record
from wallet.db.base import utcnow
from wallet.db.models.payments import Payment, Quote
from wallet.db.models.settlement import (
    AttemptState,
    MerchantBankAccount,
    Payout,
    PayoutStatus,
    Settlement,
    SettlementAttempt,
    SettlementStatus,
)
from wallet.db.session import transaction
from wallet.exchanges.base import ExchangeClient
from wallet.payments.states import PaymentStatus
from wallet.payments.transitions import lock_payment, transition
from wallet.payouts.errors import (
    PayoutError,
    PayoutInvalidRequest,
    PayoutInvalidVpa,
    PayoutOutcomeUnknown,
)
from wallet.settlement import imps, ledger
from wallet.settlement.config import SettlementConfig
from wallet.settlement.crash import crash_point
from wallet.settlement.errors import SettlementRetryable
from wallet.settlement.models import SellBatch
from wallet.settlement.payouts import (
    ACTOR,
    FAILED_STATES,
    OPEN_STATES,
    Applied,
    PayoutGateway,
    apply_payout_status,
    find_remote,
    payout_request,
)
from wallet.settlement.selling import sell_ready

log = logging.getLogger(__name__)


@dataclass
class SettlementDeps:
    """Everything settlement touches, chosen once at the edge (Dagster resources, tests)."""

    factory: sessionmaker[Session]
    payouts: PayoutGateway
    exchanges: Mapping[str, ExchangeClient]
    alerts: AlertSink
    config: SettlementConfig = field(default_factory=SettlementConfig)
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep


@dataclass
class SettleReport:
    statuses: dict[str, str] = field(default_factory=dict)
    retry_later: dict[str, str] = field(default_factory=dict)
    batches_booked: list[str] = field(default_factory=list)


def ready_payment_ids(session: Session, limit: int = 100) -> list[str]:
    """Payments a settlement run should look at: confirmed, or settling."""
    return list(
        session.scalars(
            select(Payment.id)
            .where(Payment.status.in_([PaymentStatus.CONFIRMED, PaymentStatus.SETTLING]))
            .order_by(Payment.updated_at, Payment.id)
            .limit(limit)
        )
    )


def _start(deps: SettlementDeps, payment_id: str) -> str | None:
    """Collect (if confirmed) and make sure a live attempt exists; its payout key, or None."""
    alert: Alert | None = None
    with transaction(deps.factory) as session:
        payment = lock_payment(session, payment_id)
        if payment.status is PaymentStatus.CONFIRMED:
            quote = session.get_one(Quote, payment.quote_id)
            ledger.post_collect(session, payment, quote)
            transition(
                session,
                payment.id,
                PaymentStatus.SETTLING,
                "settlement started: crypto collected, INR owed to the vendor",
                actor=ACTOR,
            )
        if payment.status is not PaymentStatus.SETTLING:
            return None
        settlement = session.scalars(
            select(Settlement).where(Settlement.payment_id == payment.id)
        ).one_or_none()
        if settlement is None:
            settlement = Settlement(payment_id=payment.id, status=SettlementStatus.IN_PROGRESS)
            session.add(settlement)
            session.flush()
        attempt = session.scalars(
            select(SettlementAttempt)
            .where(SettlementAttempt.settlement_id == settlement.id)
            .order_by(SettlementAttempt.attempt_no.desc())
        ).first()
        if attempt is not None and attempt.state is not AttemptState.FAILED:
            return attempt.id
        done = attempt.attempt_no if attempt is not None else 0
        last = (
            session.scalars(select(Payout).where(Payout.attempt_id == attempt.id)).first()
            if attempt is not None
            else None
        )
        # UPI refused the VPA and a bank account is on file: IMPS next (see imps).
        bank = imps.fallback_account(session, payment, last)
        switching = bank is not None and last is not None and last.bank_account_id is None
        if done >= deps.config.max_payout_attempts and not switching:
            settlement.status = SettlementStatus.HELD
            reason = f"payout failed {done} times ({attempt.error if attempt else ''}); held"
            transition(session, payment.id, PaymentStatus.HELD_FOR_REVIEW, reason, actor=ACTOR)
            alert = Alert(
                "payment_held",
                f"payment_held:{payment.id}",
                Severity.WARNING,
                reason,
                {"payment_id": payment.id},
            )
        else:
            attempt = SettlementAttempt(
                id=str(uuid.uuid4()), settlement_id=settlement.id, attempt_no=done + 1
            )
            session.add(attempt)
            session.flush()
            session.add(
                Payout(
                    idempotency_key=attempt.id,
                    attempt_id=attempt.id,
                    payment_id=payment.id,
                    amount_paise=payment.amount_inr_paise,
                    vpa=payment.payee_vpa,
                    bank_account_id=bank.id if bank is not None else None,
                    status=PayoutStatus.CREATED,
                )
            )
            record(
                session,
                actor=ACTOR,
                action="settlement.attempt",
                subject_type="payment",
                subject_id=payment.id,
                data={
                    "attempt": attempt.id,
                    "attempt_no": attempt.attempt_no,
                    "mode": "IMPS" if bank is not None else "UPI",
                },
            )
    if alert is not None:
        deps.alerts.fire(alert)
        return None
    crash_point("attempt_committed")
    return attempt.id if attempt is not None else None


def _load_payout(session: Session, key: str) -> Payout:
    return session.scalars(
        select(Payout)
        .where(Payout.idempotency_key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _apply(deps: SettlementDeps, key: str, remote: object) -> Applied:
    from wallet.payouts.razorpayx import Payout as RemotePayout

    assert isinstance(remote, RemotePayout)  # noqa: S101 - narrowing for mypy
    with transaction(deps.factory) as session:
        result = apply_payout_status(session, _load_payout(session, key), remote)
    _alerts_for(deps, result, key)
    return result


def _alerts_for(deps: SettlementDeps, result: Applied, key: str) -> None:
    if result.queued:
        deps.alerts.fire(
            Alert(
                "float_low",
                "float_low:razorpayx",
                Severity.CRITICAL,
                "payouts are queueing at RazorpayX: the INR float is too low",
                {"payout_key": key},
            )
        )
    if result.reversed:
        deps.alerts.fire(
            Alert(
                "payout_reversed",
                f"payout_reversed:{key}",
                Severity.WARNING,
                "a processed payout was reversed",
                {"payout_key": key},
            )
        )


def submit_payout(deps: SettlementDeps, key: str) -> Applied | None:
    """Send (or find) the payout for attempt ``key`` and store the answer."""
    with deps.factory() as session:
        payout = session.scalars(select(Payout).where(Payout.idempotency_key == key)).one()
        payment = session.get_one(Payment, payout.payment_id)
        fund_account_id = (
            session.get_one(MerchantBankAccount, payout.bank_account_id).fund_account_id
            if payout.bank_account_id is not None
            else None
        )
    if payout.status not in (PayoutStatus.CREATED, PayoutStatus.UNKNOWN):
        return None
    try:
        remote = find_remote(deps.payouts, payout)  # look before sending, always
        if remote is None:
            request = payout_request(payment, payout, fund_account_id)
            remote = deps.payouts.create_payout(**request)  # type: ignore[arg-type]
            crash_point("after_payout_call")
    except PayoutOutcomeUnknown as exc:
        _mark(deps, key, PayoutStatus.UNKNOWN, AttemptState.UNKNOWN, exc.code)
        raise SettlementRetryable(f"payout {key}: outcome unknown; will look it up") from exc
    except PayoutInvalidVpa as exc:
        # The VPA refused before any money moved: an IMPS fallback may follow (imps).
        reason = f"{imps.INVALID_VPA_PREFIX}: {exc.message}"
        _mark(deps, key, PayoutStatus.REJECTED, AttemptState.FAILED, reason)
        return Applied(True, PayoutStatus.REJECTED, failed=True)
    except PayoutInvalidRequest as exc:
        # Refused before any money moved: this attempt is over (a new key may follow).
        _mark(deps, key, PayoutStatus.REJECTED, AttemptState.FAILED, exc.message)
        return Applied(True, PayoutStatus.REJECTED, failed=True)
    except PayoutError as exc:
        raise SettlementRetryable(f"payout {key}: {exc.code}") from exc
    return _apply(deps, key, remote)


def _mark(
    deps: SettlementDeps, key: str, status: PayoutStatus, state: AttemptState, error: str
) -> None:
    with transaction(deps.factory) as session:
        payout = _load_payout(session, key)
        if payout.status in (PayoutStatus.CREATED, PayoutStatus.UNKNOWN):
            payout.status = status
            payout.failure_reason = error[:500]
        attempt = session.get(SettlementAttempt, payout.attempt_id)
        if attempt is not None and attempt.state in (AttemptState.STARTED, AttemptState.UNKNOWN):
            attempt.state = state
            attempt.error = error[:500]


def refresh_payout(deps: SettlementDeps, key: str) -> Applied | None:
    """Poll the provider once for attempt ``key`` (the webhook safety net)."""
    with deps.factory() as session:
        payout = session.scalars(select(Payout).where(Payout.idempotency_key == key)).one()
    if payout.status in (PayoutStatus.CREATED, PayoutStatus.UNKNOWN):
        return submit_payout(deps, key)
    if payout.status not in OPEN_STATES and payout.status is not PayoutStatus.PROCESSED:
        return None
    try:
        remote = find_remote(deps.payouts, payout)
    except PayoutError as exc:
        raise SettlementRetryable(f"payout {key}: {exc.code}") from exc
    return None if remote is None else _apply(deps, key, remote)


def settle_payment(deps: SettlementDeps, payment_id: str) -> PaymentStatus:
    """Take one payment as far as it can go now; returns its status afterwards."""
    for _ in range(deps.config.max_payout_attempts + 1):
        key = _start(deps, payment_id)
        if key is None:
            break
        submit_payout(deps, key)
        deadline = time.monotonic() + deps.config.payout_wait_seconds
        status = _payout_status(deps, key)
        while status in OPEN_STATES and time.monotonic() < deadline:
            deps.sleep(deps.config.payout_poll_interval_seconds)
            refresh_payout(deps, key)
            status = _payout_status(deps, key)
        if status not in (PayoutStatus.FAILED, PayoutStatus.REJECTED, PayoutStatus.CANCELLED):
            break
    with deps.factory() as session:
        return session.get_one(Payment, payment_id).status


def _await_payouts(deps: SettlementDeps, keys: list[str]) -> None:
    """Poll the payouts of ``keys`` until none is open or ``payout_wait_seconds`` pass."""
    deadline = time.monotonic() + deps.config.payout_wait_seconds
    waiting = _still_open(deps, keys)
    while waiting and time.monotonic() < deadline:
        deps.sleep(deps.config.payout_poll_interval_seconds)
        for key in waiting:
            with contextlib.suppress(SettlementRetryable):  # settle_payment reports it
                refresh_payout(deps, key)
        waiting = _still_open(deps, waiting)


def _still_open(deps: SettlementDeps, keys: list[str]) -> list[str]:
    """Those of ``keys`` whose payout is still open, in order."""
    open_keys = _keys_in(deps, keys, OPEN_STATES)
    return [k for k in keys if k in open_keys]


def _keys_in(deps: SettlementDeps, keys: list[str], states: frozenset[PayoutStatus]) -> set[str]:
    """Those of ``keys`` whose payout is in one of ``states``: one query for all."""
    if not keys:
        return set()
    with deps.factory() as session:
        return set(
            session.scalars(
                select(Payout.idempotency_key).where(
                    Payout.idempotency_key.in_(keys), Payout.status.in_(list(states))
                )
            )
        )


def _payout_status(deps: SettlementDeps, key: str) -> PayoutStatus:
    with deps.factory() as session:
        return session.scalars(select(Payout.status).where(Payout.idempotency_key == key)).one()


def sell_pass(deps: SettlementDeps) -> list[SellBatch]:
    """Sell every asset's waiting crypto, in batches per asset and sell window."""
    return sell_ready(
        deps.factory,
        deps.exchanges,
        deps.clock(),
        window_seconds=deps.config.sell_window_seconds,
        lease_seconds=deps.config.sell_lease_seconds,
    )


def settle_pass(
    deps: SettlementDeps, payment_ids: list[str] | None = None, *, sell: bool = True
) -> SettleReport:
    """Settle ``payment_ids`` (default: every ready payment), then sell and complete.

    Payments whose outside calls were ambiguous are listed in ``retry_later``
    (the caller raises for a retry); the others are unaffected by them.
    """
    report = SettleReport()
    if payment_ids is None:
        with deps.factory() as session:
            payment_ids = ready_payment_ids(session)
    # Send every payout first, then wait for their outcomes together: a run of
    # n payments waits about one processing delay, not n of them.
    keys: dict[str, str] = {}
    for payment_id in payment_ids:
        try:
            key = _start(deps, payment_id)
            if key is not None:
                submit_payout(deps, key)
                keys[payment_id] = key
        except SettlementRetryable as exc:
            report.retry_later[payment_id] = exc.message
    _await_payouts(deps, [k for p, k in keys.items() if p not in report.retry_later])
    failed = _keys_in(deps, list(keys.values()), FAILED_STATES)
    for payment_id in payment_ids:
        if payment_id in report.retry_later or keys.get(payment_id) not in failed:
            continue
        try:  # a failed attempt is followed by a new one (or the payment is held)
            report.statuses[payment_id] = settle_payment(deps, payment_id).value
        except SettlementRetryable as exc:
            report.retry_later[payment_id] = exc.message
    if sell:
        booked = sell_pass(deps)
        report.batches_booked = [b.id for b in booked]
    # Paid, still open (webhooks carry on), or not ours to move (_start said so).
    done = [p for p in payment_ids if p not in report.retry_later]
    report.statuses.update(_statuses(deps, done))
    return report


def _statuses(deps: SettlementDeps, payment_ids: list[str]) -> dict[str, str]:
    """Each payment's status now, in ``payment_ids`` order: one query for all."""
    with deps.factory() as session:
        rows = session.execute(
            select(Payment.id, Payment.status).where(Payment.id.in_(payment_ids))
        )
        found = {row.id: row.status for row in rows}
    return {p: found[p].value for p in payment_ids}


def open_payout_keys(session: Session, older_than: datetime) -> list[str]:
    """Payouts still in flight and not heard of since ``older_than`` (to poll)."""
    return list(
        session.scalars(
            select(Payout.idempotency_key).where(
                Payout.status.in_(list(OPEN_STATES)), Payout.updated_at < older_than
            )
        )
    )


def unsold_batches(session: Session) -> int:
    return int(
        session.scalar(select(func.count(SellBatch.id)).where(SellBatch.status != "booked")) or 0
    )
