"""Reading an append-only table in id order with a named, persisted cursor.

Background scans (merchant webhooks, payer pushes) turn new rows of
``payment_events`` or ``credits`` into outbox messages. Ids are not commit
order: a transaction holding a lower id may commit after a higher one is
visible. So rows younger than ``settle_seconds`` wait for the next scan and
the cursor stops at the first of them; it never moves past a row that
might still be in flight. The cursor row is locked for the scan, so two
scanners never read the same range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from wallet.db.models.payments import Payment, PaymentEvent
from wallet.merchants.models import EventCursor

Rows: TypeAlias = "Select[*tuple[Any, ...]]"  # any row shape


def named_cursor(session: Session, name: str, now: datetime) -> EventCursor:
    """The cursor called ``name``, locked for this transaction (created at 0)."""
    cursor = session.get(EventCursor, name, with_for_update=True)
    if cursor is None:
        cursor = EventCursor(name=name, last_id=0, updated_at=now)
        session.add(cursor)
        session.flush()
    return cursor


def settled_rows(
    session: Session,
    name: str,
    rows_after: Callable[[int], Rows],
    *,
    id_and_time: Callable[[Any], tuple[int, datetime]],
    now: datetime,
    settle_seconds: int,
    batch: int,
) -> Iterator[Any]:
    """Rows after cursor ``name`` (``rows_after(last_id)``, in id order), oldest
    first, up to the first one younger than ``settle_seconds``; the cursor
    advances past each row as it is yielded."""
    cursor = named_cursor(session, name, now)
    settled_before = now - timedelta(seconds=settle_seconds)
    try:
        for row in session.execute(rows_after(cursor.last_id).limit(batch)).all():
            row_id, at = id_and_time(row)
            if at > settled_before:
                break
            cursor.last_id = row_id
            yield row
    finally:
        cursor.updated_at = now
        session.flush()


def settled_payment_events(
    session: Session, name: str, *, now: datetime, settle_seconds: int, batch: int
) -> Iterator[tuple[PaymentEvent, Payment]]:
    """New payment timeline steps with their payment (see :func:`settled_rows`)."""

    def after(last_id: int) -> Rows:
        return (
            select(PaymentEvent, Payment)
            .join(Payment, Payment.id == PaymentEvent.payment_id)
            .where(PaymentEvent.id > last_id)
            .order_by(PaymentEvent.id)
        )

    yield from settled_rows(
        session,
        name,
        after,
        id_and_time=lambda row: (row[0].id, row[0].at),
        now=now,
        settle_seconds=settle_seconds,
        batch=batch,
    )
