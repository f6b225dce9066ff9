"""Work claiming for table-polling workers: leases over ``SKIP LOCKED``.

Any worker that polls a table for work (the outbox, settlement queues,
payout status polls) takes rows with :func:`claim_batch`, so N workers on
N machines never take the same row while its lease lives, and a worker
that dies loses its rows back to the pool when the lease runs out.

How a claim is taken:

- PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` picks up to ``limit``
  claimable rows that no other transaction is looking at, then one
  ``UPDATE`` stamps them ``claimed_by = worker_id`` and
  ``lease_expires_at = now + lease``. Claimers never wait on each other.
  Lease times use the database clock (``statement_timestamp()``), so
  machines with skewed clocks agree on when a lease has run out.
- SQLite (the embedded single-machine default): no row locks. Engines from
  :func:`wallet.db.session.make_engine` open every transaction with
  ``BEGIN IMMEDIATE``, which serialises claimers; the ``UPDATE`` re-checks
  that each row is still claimable (a compare-and-set), so even a deferred
  transaction cannot take a row twice: SQLite refuses its write instead.
  Times come from this machine's clock.

A row is claimable when it matches the caller's ``where`` and is either
unclaimed or its lease has expired. The claim is durable once the caller
commits; until then the row locks alone keep other claimers away.

Leases are not a substitute for idempotency. A worker that stalls past its
lease (GC pause, network partition) may still be running when another one
reclaims its row, so every external effect must still carry a key from our
own ids (RELIABILITY.md, G3). Finish a row with an update fenced by
:func:`held_by`, so a worker that lost its lease changes nothing.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Interval, String, func, inspect, literal, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Mapped, Session, mapped_column

from wallet.db.base import UTCDateTime, utcnow

T = TypeVar("T", bound="Claimable")

WORKER_ID_LENGTH = 128


class Claimable:
    """Mixin: the two lease columns :func:`claim_batch` needs on a table.

    ``claimed_by`` names the worker holding the row (see
    :func:`new_worker_id`); ``lease_expires_at`` is when others may take it.
    Both are empty for a row nobody has claimed or that was released.
    """

    claimed_by: Mapped[str | None] = mapped_column(String(WORKER_ID_LENGTH), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


def new_worker_id(role: str = "worker") -> str:
    """A worker identity unique across machines and restarts: role@host:pid:random."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[:WORKER_ID_LENGTH]


def claimable(model: type[Claimable], now: Any) -> ColumnElement[bool]:
    """Rows nobody holds: never claimed, released, or with a lapsed lease."""
    return or_(model.claimed_by.is_(None), model.lease_expires_at <= now)


def held_by(model: type[Claimable], worker_id: str) -> ColumnElement[bool]:
    """Fence for finishing work: the row is still this worker's.

    Use it in the worker's final ``UPDATE`` and check the row count: zero
    means the lease was lost and someone else owns the row now.
    """
    return model.claimed_by == worker_id


def claim_batch(
    session: Session,
    model: type[T],
    *,
    where: ColumnElement[bool] | Sequence[ColumnElement[bool]] = (),
    order_by: Any | Sequence[Any] = (),
    limit: int,
    lease_seconds: float,
    worker_id: str,
    now: datetime | None = None,
) -> list[T]:
    """Claim up to ``limit`` rows of ``model`` matching ``where`` for ``worker_id``.

    Rows come back in ``order_by`` order with ``claimed_by`` and
    ``lease_expires_at`` set. Commit to make the lease durable. ``now``
    overrides the clock (tests); by default PostgreSQL's clock is used there
    and this machine's on SQLite.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    if not worker_id or len(worker_id) > WORKER_ID_LENGTH:
        raise ValueError(f"worker_id must be 1..{WORKER_ID_LENGTH} characters")
    pk = _primary_key(model)
    current, expires = _clock(session, now, lease_seconds)
    conditions = [*_as_list(where), claimable(model, current)]
    candidates = (
        select(pk)
        .where(*conditions)
        .order_by(*_as_list(order_by), pk)
        .limit(limit)
        .with_for_update(skip_locked=True)  # rendered on PostgreSQL; SQLite serialises instead
    )
    ids = list(session.scalars(candidates))
    if not ids:
        return []
    session.execute(
        sql_update(model)
        .where(pk.in_(ids), *conditions)  # compare-and-set: still claimable, still matching
        .values(claimed_by=worker_id, lease_expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    rows = session.scalars(
        select(model)
        .where(pk.in_(ids), held_by(model, worker_id))
        .execution_options(populate_existing=True)
    ).all()
    position = {key: i for i, key in enumerate(ids)}
    attribute = inspect(model).get_property_by_column(pk).key
    return sorted(rows, key=lambda row: position[getattr(row, attribute)])


def renew(
    session: Session,
    model: type[Claimable],
    ids: Sequence[Any],
    *,
    worker_id: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> int:
    """Extend this worker's leases on ``ids``; returns how many it still held.

    A count below ``len(ids)`` means some rows were reclaimed by another
    worker after their lease lapsed: stop working on those.
    """
    if not ids:
        return 0
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    pk = _primary_key(model)
    _, expires = _clock(session, now, lease_seconds)
    result = session.execute(
        sql_update(model)
        .where(pk.in_(list(ids)), held_by(model, worker_id))
        .values(lease_expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def release(session: Session, model: type[Claimable], ids: Sequence[Any], *, worker_id: str) -> int:
    """Give this worker's rows back to the pool now; returns how many it held."""
    if not ids:
        return 0
    pk = _primary_key(model)
    result = session.execute(
        sql_update(model)
        .where(pk.in_(list(ids)), held_by(model, worker_id))
        .values(claimed_by=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def _clock(session: Session, now: datetime | None, lease_seconds: float) -> tuple[Any, Any]:
    """(now, now + lease) as SQL expressions on the clock this backend trusts."""
    lease = timedelta(seconds=lease_seconds)
    if now is None and session.get_bind().dialect.name == "postgresql":
        # statement_timestamp(), not now(): a long transaction's now() is stale.
        db_now = func.statement_timestamp()
        return db_now, db_now + literal(lease, Interval())
    current = now or utcnow()
    return literal(current, UTCDateTime()), literal(current + lease, UTCDateTime())


def _primary_key(model: type[Any]) -> Any:
    keys = inspect(model).primary_key
    if len(keys) != 1:
        raise TypeError(f"{model.__name__} needs a single-column primary key to be claimed")
    return keys[0]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count


__all__ = [
    "Claimable",
    "claim_batch",
    "claimable",
    "held_by",
    "new_worker_id",
    "release",
    "renew",
]
