"""Velocity and amount limits, enforced atomically in the database.

Each limit is a :class:`LimitRule`: a scope and key (``user``/``42``,
``device``/``<id>``, ``payee``/``x@bank``, ``global``/``*``,
``withdrawal``/``42``), a fixed window (the UTC hour, or the IST day) and a
ceiling on the count and/or the INR sum. Usage lives in ``risk_counters``,
one row per (scope, key, period, window_start).

**Why it cannot be exceeded concurrently.** A reservation takes from every
rule's row with one conditional upsert (one statement for all rules)::

    INSERT INTO risk_counters (scope, key, period, window_start, used_count, used_paise)
    VALUES (<rule 1>, 1, :amount), (<rule 2>, 1, :amount), …
    ON CONFLICT (scope, key, period, window_start) DO UPDATE
       SET used_count = risk_counters.used_count + 1,
           used_paise = risk_counters.used_paise + excluded.used_paise
     WHERE CASE WHEN <row is rule 1> THEN used_count + 1 <= :max_count_1
                                      AND used_paise + :amount <= :max_paise_1
                WHEN … END
    RETURNING scope, key, period

On PostgreSQL ``ON CONFLICT DO UPDATE`` locks the existing row and
evaluates the ``WHERE`` against its latest committed version (whatever the
snapshot), so the check and the increment are one atomic step and
concurrent reservations queue on the row. On SQLite writers are already
serialised by ``BEGIN IMMEDIATE``. A row that does not come back, or a new
row whose single use is already over its ceiling, means a ceiling would be
crossed: the savepoint rolls back every counter this reservation touched,
so a refusal changes nothing. Rows are touched in one global order (the
``VALUES`` in sorted rule keys) so two reservations never deadlock.

A reservation is recorded under our own ``ref`` (retries reserve once;
the reservation row is inserted first, so a retry touches no counter) and
can be released if the payment fails before funds move.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

from sqlalchemy import TextClause, bindparam, select, text, update
from sqlalchemy.orm import Session

from wallet.db.atomic import atomic
from wallet.db.base import UTCDateTime
from wallet.db.upsert import dialect_name, insert_unless_taken
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


def _row_filter(scope: str, key: str, period: str, start: datetime) -> list[Any]:
    return [
        LimitCounter.scope == scope,
        LimitCounter.key == key,
        LimitCounter.period == period,
        LimitCounter.window_start == start,
    ]


# The upsert's text per shape of the rule list (which ceilings each row has):
# SQLAlchemy does not cache multi-row VALUES, and compiling it per payment
# cost more than running it. A handful of shapes exist (payment, withdrawal,
# with or without a device).
_Shape = tuple[tuple[bool, bool], ...]
_UPSERTS: dict[_Shape, TextClause] = {}


def _upsert(shape: _Shape) -> TextClause:
    """``INSERT … ON CONFLICT DO UPDATE … WHERE`` for one row per rule (PostgreSQL and SQLite)."""
    found = _UPSERTS.get(shape)
    if found is not None:
        return found
    values, whens, typed = [], [], []
    for i, (has_count, has_paise) in enumerate(shape):
        values.append(f"(:s{i}, :k{i}, :p{i}, :w{i}, 1, :amount)")
        typed.append(bindparam(f"w{i}", type_=UTCDateTime()))
        checks = []
        if has_count:
            checks.append(f"risk_counters.used_count + 1 <= :c{i}")
        if has_paise:
            checks.append(f"risk_counters.used_paise + :amount <= :m{i}")
        row = (
            f'risk_counters.scope = :s{i} AND risk_counters."key" = :k{i} '
            f"AND risk_counters.period = :p{i}"
        )
        whens.append(f"WHEN {row} THEN ({' AND '.join(checks) or 'true'})")
    # Only placeholders are joined in: every value is a bound parameter.
    sql = " ".join(
        [
            "INSERT INTO risk_counters",
            '(scope, "key", period, window_start, used_count, used_paise)',
            "VALUES",
            ", ".join(values),
            'ON CONFLICT (scope, "key", period, window_start) DO UPDATE SET',
            "used_count = risk_counters.used_count + 1,",
            "used_paise = risk_counters.used_paise + excluded.used_paise",
            "WHERE CASE",
            " ".join(whens),
            "ELSE true END",
            'RETURNING scope, "key", period',
        ]
    )
    clause = text(sql).bindparams(*typed)
    _UPSERTS[shape] = clause
    return clause


def _take_all(
    session: Session, rows: Sequence[tuple[LimitRule, datetime]], amount: int
) -> set[tuple[str, str, str]]:
    """Add one use and ``amount`` to every row that stays within its rule; the rows taken.

    One statement, rows in the given (lock) order. A row that does not
    exist yet is created with this one use (the caller checks a single use
    against the ceilings itself).
    """
    shape = tuple((rule.max_count is not None, rule.max_paise is not None) for rule, _ in rows)
    params: dict[str, Any] = {"amount": amount}
    for i, (rule, start) in enumerate(rows):
        params.update(
            {
                f"s{i}": rule.scope,
                f"k{i}": rule.key,
                f"p{i}": rule.period.value,
                f"w{i}": start,
                f"c{i}": rule.max_count,
                f"m{i}": rule.max_paise,
            }
        )
    return {(str(a), str(b), str(c)) for a, b, c in session.execute(_upsert(shape), params)}


def _alone_over(rule: LimitRule, amount: int) -> bool:
    """Whether one use of ``amount`` crosses the rule's ceiling even on an empty window."""
    return (rule.max_count is not None and rule.max_count < 1) or (
        rule.max_paise is not None and amount > rule.max_paise
    )


class _Refused(Exception):
    """Internal: rolls the reservation's savepoint back; carries the refusing rule."""

    def __init__(self, rule: LimitRule, start: datetime) -> None:
        super().__init__(rule.reason("limit"))
        self.rule = rule
        self.start = start


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


@cache
def _reservation_insert(dialect: str) -> Any:
    """Built once per dialect: every payment reserves its limits."""
    return insert_unless_taken(
        dialect,
        LimitReservation,
        ["ref"],
        ref=bindparam("b_ref"),
        user_id=bindparam("b_user"),
        amount_paise=bindparam("b_amount"),
        counters=bindparam("b_counters", type_=LimitReservation.counters.type),
        status=ReservationStatus.RESERVED,
        created_at=bindparam("b_at"),
    )


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
    first refusing limit in lock order) with every counter unchanged. A
    second call with the same ``ref`` returns the first reservation and
    takes nothing more.
    """
    amount = check_amount(amount_paise)
    rows = [(rule, window_start(rule.period, now)) for rule in _ordered(rules)]
    touched = [[rule.scope, rule.key, rule.period.value, start.isoformat()] for rule, start in rows]
    dialect = dialect_name(session)
    try:
        with atomic(session):
            # The reservation first: a retry (or a concurrent twin, once it
            # commits) finds its ref taken and touches no counter.
            new_id = session.execute(
                _reservation_insert(dialect),
                {
                    "b_ref": ref,
                    "b_user": user_id,
                    "b_amount": amount,
                    "b_counters": touched,
                    "b_at": now,
                },
            ).scalar()
            if new_id is not None and rows:
                taken = _take_all(session, rows, amount)
                for rule, start in rows:
                    if (rule.scope, rule.key, rule.period.value) not in taken or _alone_over(
                        rule, amount
                    ):
                        raise _Refused(rule, start)
    except _Refused as refused:
        raise _refusal(session, refused.rule, refused.start, amount) from None
    if new_id is None:
        existing = _find(session, ref)
        if existing is None:  # pragma: no cover - the conflicting row is committed or ours
            raise ReservationNotFound(f"limit reservation {ref!r} vanished")
        return Reservation.from_row(existing)
    return Reservation(
        ref=ref,
        user_id=user_id,
        amount_paise=amount,
        status=ReservationStatus.RESERVED,
        counters=tuple((a, b, c, d) for a, b, c, d in touched),
    )


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
