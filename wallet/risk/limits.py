"""Velocity and amount limits, enforced atomically in the database.

Each limit is a :class:`LimitRule`: a scope and key (``user``/``42``,
``device``/``<id>``, ``payee``/``x@bank``, ``global``/``*``,
``withdrawal``/``42``), a fixed window (the UTC hour, or the IST day) and a
ceiling on the count and/or the INR sum. Usage lives in ``risk_counters``,
one row per (scope, key, period, window_start).

**Why it cannot be exceeded concurrently.** A reservation makes sure each
row exists (``INSERT … ON CONFLICT DO NOTHING``) and then takes from it
with one conditional statement::

    UPDATE risk_counters SET used_count = used_count + 1,
                             used_paise = used_paise + :amount
     WHERE <row> AND used_count + 1 <= :max_count
                 AND used_paise + :amount <= :max_paise
    RETURNING used_count

On PostgreSQL the row lock makes concurrent updates queue, and under READ
COMMITTED each waiter re-evaluates the ``WHERE`` against the committed row,
so the check and the increment are one atomic step. On SQLite writers are
already serialised by ``BEGIN IMMEDIATE``. No row matched means a ceiling
would be crossed: the savepoint rolls back every counter this reservation
touched, so a refusal changes nothing. Rows are touched in one global
order (sorted rule keys) so two reservations never deadlock.

A reservation is recorded under our own ``ref`` (retries reserve once) and
can be released if the payment fails before funds move.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.errors import InvalidAmount
from wallet.risk.errors import LimitExceeded, ReservationNotFound
from wallet.risk.models import LimitCounter, LimitReservation, ReservationStatus

IST = timezone(timedelta(hours=5, minutes=30), "IST")


class Period(enum.StrEnum):
    HOUR = "hour"  # the UTC clock hour
    DAY = "day"  # the calendar day in India Standard Time


def window_start(period: Period, now: datetime) -> datetime:
    """Start (UTC) of the fixed window of ``period`` that contains ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if period is Period.HOUR:
        return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    local = now.astimezone(IST).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class LimitRule:
    """A ceiling on one (scope, key) per window; ``None`` means unlimited."""

    scope: str
    key: str
    period: Period
    max_count: int | None = None
    max_paise: int | None = None

    def reason(self, dimension: str) -> str:
        """The stable reason code, e.g. ``limit_user_day_amount``."""
        return f"limit_{self.scope}_{self.period.value}_{dimension}"


@dataclass(frozen=True)
class Reservation:
    """What was taken from the counters under ``ref``."""

    ref: str
    user_id: int
    amount_paise: int
    status: ReservationStatus
    counters: tuple[tuple[str, str, str, str], ...]

    @classmethod
    def from_row(cls, row: LimitReservation) -> Reservation:
        return cls(
            ref=row.ref,
            user_id=row.user_id,
            amount_paise=row.amount_paise,
            status=row.status,
            counters=tuple((str(a), str(b), str(c), str(d)) for a, b, c, d in row.counters),
        )


def _insert(session: Session) -> Any:
    # ON CONFLICT is dialect syntax; both backends we run on have it.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _row_filter(scope: str, key: str, period: str, start: datetime) -> list[Any]:
    return [
        LimitCounter.scope == scope,
        LimitCounter.key == key,
        LimitCounter.period == period,
        LimitCounter.window_start == start,
    ]


def _take(session: Session, rule: LimitRule, start: datetime, amount: int) -> bool:
    """Add one use and ``amount`` paise to the rule's row, if both stay within bounds."""
    insert = _insert(session)
    session.execute(
        insert(LimitCounter)
        .values(
            scope=rule.scope,
            key=rule.key,
            period=rule.period.value,
            window_start=start,
            used_count=0,
            used_paise=0,
        )
        .on_conflict_do_nothing()
    )
    conditions = _row_filter(rule.scope, rule.key, rule.period.value, start)
    if rule.max_count is not None:
        conditions.append(LimitCounter.used_count + 1 <= rule.max_count)
    if rule.max_paise is not None:
        conditions.append(LimitCounter.used_paise + amount <= rule.max_paise)
    taken = session.execute(
        update(LimitCounter)
        .where(*conditions)
        .values(
            used_count=LimitCounter.used_count + 1,
            used_paise=LimitCounter.used_paise + amount,
        )
        .returning(LimitCounter.used_count)
        .execution_options(synchronize_session=False)
    ).first()
    return taken is not None


def _refusal(session: Session, rule: LimitRule, start: datetime, amount: int) -> LimitExceeded:
    """Say which dimension refused (a diagnostic read; the decision was already made)."""
    row = session.execute(
        select(LimitCounter.used_count, LimitCounter.used_paise).where(
            *_row_filter(rule.scope, rule.key, rule.period.value, start)
        )
    ).first()
    count = int(row[0]) if row else 0
    over_count = rule.max_count is not None and count + 1 > rule.max_count
    dimension = "count" if over_count else "amount"
    return LimitExceeded(
        f"the {rule.scope} {rule.period.value}ly {dimension} limit would be exceeded",
        reason=rule.reason(dimension),
    )


def check_amount(amount_paise: object) -> int:
    if isinstance(amount_paise, bool) or not isinstance(amount_paise, int):
        raise InvalidAmount("amounts are integer paise")
    if amount_paise <= 0:
        raise InvalidAmount("the amount must be positive")
    return amount_paise


def _ordered(rules: Iterable[LimitRule]) -> Sequence[LimitRule]:
    """Rules in the one global lock order; one rule per counter row."""
    by_row: dict[tuple[str, str, str], LimitRule] = {}
    for rule in rules:
        row = (rule.scope, rule.key, rule.period.value)
        if row in by_row and by_row[row] != rule:
            raise ValueError(f"two different rules for one counter {row}")
        by_row[row] = rule
    return [by_row[row] for row in sorted(by_row)]


def reserve_limits(
    session: Session,
    *,
    ref: str,
    user_id: int,
    rules: Iterable[LimitRule],
    amount_paise: int,
    now: datetime,
) -> Reservation:
    """Take ``amount_paise`` and one use from every rule's window, or nothing.

    Raises :class:`LimitExceeded` (code ``limit_exceeded``, ``reason`` the
    first refusing limit) with every counter unchanged. A second call with
    the same ``ref`` returns the first reservation and takes nothing more.
    """
    amount = check_amount(amount_paise)
    existing = _find(session, ref)
    if existing is not None:
        return Reservation.from_row(existing)
    ordered = _ordered(rules)
    touched: list[list[str]] = []
    try:
        with session.begin_nested():
            for rule in ordered:
                start = window_start(rule.period, now)
                if not _take(session, rule, start, amount):
                    raise _refusal(session, rule, start, amount)
                touched.append([rule.scope, rule.key, rule.period.value, start.isoformat()])
            row = LimitReservation(
                ref=ref,
                user_id=user_id,
                amount_paise=amount,
                counters=touched,
                status=ReservationStatus.RESERVED,
                created_at=now,
            )
            session.add(row)
            session.flush()
    except IntegrityError:
        # A concurrent call with the same ref won; ours was rolled back whole.
        won = _find(session, ref)
        if won is None:
            raise
        return Reservation.from_row(won)
    return Reservation.from_row(row)


def _find(session: Session, ref: str, *, lock: bool = False) -> LimitReservation | None:
    query = select(LimitReservation).where(LimitReservation.ref == ref)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def release_reservation(session: Session, ref: str, *, now: datetime) -> bool:
    """Give a reservation's uses and paise back; ``False`` if it was already released.

    For a payment that failed or expired before any funds moved. Idempotent:
    the reservation row is locked and flipped once, in the caller's transaction.
    """
    row = _find(session, ref, lock=True)
    if row is None:
        raise ReservationNotFound(f"no limit reservation {ref!r}")
    if row.status is ReservationStatus.RELEASED:
        return False
    with session.begin_nested():
        for scope, key, period, start in sorted(row.counters):
            session.execute(
                update(LimitCounter)
                .where(*_row_filter(scope, key, period, datetime.fromisoformat(start)))
                .values(
                    used_count=LimitCounter.used_count - 1,
                    used_paise=LimitCounter.used_paise - row.amount_paise,
                )
                .execution_options(synchronize_session=False)
            )
        row.status = ReservationStatus.RELEASED
        row.released_at = now
        session.flush()
    return True


def usage(session: Session, scope: str, key: str, period: Period, now: datetime) -> tuple[int, int]:
    """(count, paise) used so far in the window of ``period`` containing ``now``."""
    row = session.execute(
        select(LimitCounter.used_count, LimitCounter.used_paise).where(
            *_row_filter(scope, key, period.value, window_start(period, now))
        )
    ).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)
