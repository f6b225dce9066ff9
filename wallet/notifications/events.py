"""Which events notify a payer, queued once per (user, event), then pushed.

Issue 7: a payer hears when the vendor was paid (``paid_out``) and when a
deposit reached their balance. :func:`scan` reads the payment timeline and
the credits table with cursors and writes one outbox message per (user,
event) — the outbox key is unique, so a re-run scan queues nothing new.
:func:`deliver_due` claims due messages with
:func:`wallet.db.claims.claim_batch` (``SKIP LOCKED`` + lease, so two
daemons never push the same message at once), sends with no transaction
open, and finishes each row fenced by :func:`~wallet.db.claims.held_by`.
Delivery is at-least-once: the message carries a ``tag`` (the event key) so
the service worker collapses a rare repeat into one notification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import get_asset
from wallet.db.claims import claim_batch, held_by
from wallet.db.models.chain import Credit
from wallet.db.models.ops import OutboxMessage, OutboxStatus
from wallet.db.models.settlement import Payout
from wallet.db.models.users import WalletAddress
from wallet.db.session import transaction
from wallet.db.tail import Rows, settled_payment_events, settled_rows
from wallet.money import format_minor
from wallet.notifications.push import deposit_message, payment_message, send_push
from wallet.payments.states import PaymentStatus

TOPIC = "user.push"
PAYMENTS_CURSOR = "push.payment_events"
CREDITS_CURSOR = "push.credits"
# Rows younger than this wait for the next scan: a transaction holding a
# lower id may not have committed yet (ids are not commit order).
SETTLE_SECONDS = 10
LEASE_SECONDS = 60
MAX_ATTEMPTS = 5
RETRY_SECONDS = 60


def _enqueue(
    session: Session, key: str, user_id: int, message: dict[str, str], now: datetime
) -> bool:
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None:
        return False  # queued before: one push per (user, event)
    session.add(
        OutboxMessage(
            topic=TOPIC,
            key=key,
            payload={"user_id": user_id, "message": message | {"tag": key}},
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
    )
    session.flush()
    return True


def _scan_payments(session: Session, now: datetime, batch: int) -> int:
    made = 0
    for event, payment in settled_payment_events(
        session, PAYMENTS_CURSOR, now=now, settle_seconds=SETTLE_SECONDS, batch=batch
    ):
        if event.to_status is not PaymentStatus.PAID_OUT:
            continue
        utr = session.scalars(
            select(Payout.utr)
            .where(Payout.payment_id == payment.id, Payout.utr.is_not(None))
            .order_by(Payout.id.desc())
        ).first()
        amount = format_minor(payment.amount_inr_paise, 2)
        message = payment_message(payment.id, "paid_out", amount, utr)
        key = f"push:{payment.user_id}:payment:{payment.id}:paid_out"
        made += _enqueue(session, key, payment.user_id, message, now)
    return made


def _credits_after(last_id: int) -> Rows:
    return (
        select(Credit, WalletAddress.user_id)
        .outerjoin(
            WalletAddress,
            (WalletAddress.chain == Credit.chain) & (WalletAddress.address == Credit.address),
        )
        .where(Credit.id > last_id)
        .order_by(Credit.id)
    )


def _scan_credits(session: Session, now: datetime, batch: int) -> int:
    made = 0
    for credit, user_id in settled_rows(
        session,
        CREDITS_CURSOR,
        _credits_after,
        id_and_time=lambda row: (row[0].id, row[0].created_at),
        now=now,
        settle_seconds=SETTLE_SECONDS,
        batch=batch,
    ):
        # A credit for a payment is that payment's funding, not a balance deposit.
        if credit.payment_id is not None or user_id is None:
            continue
        amount = format_minor(credit.amount_minor, get_asset(credit.asset).decimals, trim=True)
        message = deposit_message(amount, credit.asset)
        made += _enqueue(session, f"push:{user_id}:credit:{credit.id}", user_id, message, now)
    return made


def scan(session: Session, *, now: datetime, batch: int = 500) -> int:
    """Queue pushes for new ``paid_out`` steps and deposit credits; how many."""
    made = _scan_payments(session, now, batch) + _scan_credits(session, now, batch)
    session.flush()
    return made


@dataclass
class PushReport:
    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)


def deliver_due(
    factory: sessionmaker[Session],
    settings: Any,
    *,
    worker_id: str,
    now: Callable[[], datetime],
    limit: int = 50,
) -> PushReport:
    """Push up to ``limit`` due messages; record each outcome under the lease fence."""
    report = PushReport()
    with transaction(factory) as session:
        claimed = claim_batch(
            session,
            OutboxMessage,
            where=[
                OutboxMessage.topic == TOPIC,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= now(),
            ],
            order_by=OutboxMessage.next_attempt_at,
            limit=limit,
            lease_seconds=LEASE_SECONDS,
            worker_id=worker_id,
        )
        jobs = [(m.id, m.key, m.attempts, dict(m.payload)) for m in claimed]
    for message_id, key, attempts, payload in jobs:
        error: str | None = None
        try:
            send_push(factory, settings, int(payload["user_id"]), payload["message"])
        except Exception as exc:  # transport failure: retry later, never lose the event
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        values: dict[str, Any] = {"claimed_by": None, "lease_expires_at": None,
                                  "attempts": attempts + 1}  # fmt: skip
        if error is None:
            values["status"] = OutboxStatus.SENT
            outcome = report.sent
        elif attempts + 1 >= MAX_ATTEMPTS:
            values |= {"status": OutboxStatus.DEAD, "last_error": error}
            outcome = report.dead
        else:
            retry_at = now() + timedelta(seconds=RETRY_SECONDS * 2**attempts)
            values |= {"next_attempt_at": retry_at, "last_error": error}
            outcome = report.retrying
        with transaction(factory) as session:
            result = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, held_by(OutboxMessage, worker_id))
                .values(**values)
            )
        if getattr(result, "rowcount", 0):
            outcome.append(key)
    return report
