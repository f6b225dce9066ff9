"""Rows behind the ledger: get-or-create accounts, lock balances in order, write entries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from wallet.db.base import MinorUnits, UTCDateTime
from wallet.db.models.ledger import JournalEntry, LedgerAccount, LedgerBalance, Posting
from wallet.db.rows import table_of
from wallet.ledger.accounts import AccountSpec


def _insert_ignore(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: concurrent creators both succeed."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(model).values(rows).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite.insert(model).values(rows).on_conflict_do_nothing())
    else:  # pragma: no cover - we support exactly these two
        raise NotImplementedError(f"ledger does not support {dialect}")


def ensure_accounts(session: Session, specs: Iterable[AccountSpec]) -> dict[str, LedgerAccount]:
    """The account rows for ``specs`` (created with a zero balance if new)."""
    wanted = {s.code: s for s in specs}
    found = _load(session, wanted)
    missing = [s for code, s in wanted.items() if code not in found]
    if missing:
        _insert_ignore(
            session,
            LedgerAccount,
            [
                {
                    "code": s.code,
                    "type": s.type,
                    "asset": s.asset,
                    "may_go_negative": s.may_go_negative,
                }
                for s in missing
            ],
        )
        found = _load(session, wanted)
        _insert_ignore(
            session,
            LedgerBalance,
            [
                {
                    "account_id": found[s.code].id,
                    "asset": s.asset,
                    "normal_sign": s.normal_sign,
                    "may_go_negative": s.may_go_negative,
                    "balance": 0,
                    "held": 0,
                }
                for s in missing
            ],
        )
    return found


def _load(session: Session, wanted: Mapping[str, AccountSpec]) -> dict[str, LedgerAccount]:
    rows = session.scalars(_accounts_by_code(), {"codes": list(wanted)})
    return {row.code: row for row in rows}


@cache
def _accounts_by_code() -> Select[LedgerAccount]:
    """Built once (every posting and hold reads its accounts): codes bound at run time."""
    return select(LedgerAccount).where(LedgerAccount.code.in_(bindparam("codes", expanding=True)))


@cache
def _balances_for_update() -> Select[LedgerBalance]:
    return (
        select(LedgerBalance)
        .where(LedgerBalance.account_id.in_(bindparam("ids", expanding=True)))
        .order_by(LedgerBalance.account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_balances(session: Session, account_ids: Iterable[int]) -> dict[int, LedgerBalance]:
    """Lock the balance rows (FOR UPDATE) in ascending account id order.

    One global lock order means two entries touching the same accounts
    queue behind each other instead of deadlocking. SQLite ignores FOR
    UPDATE; its ``BEGIN IMMEDIATE`` already serialises writers.
    """
    ids = sorted(set(account_ids))
    rows = session.scalars(_balances_for_update(), {"ids": ids})
    return {row.account_id: row for row in rows}


def available(balance: LedgerBalance) -> int:
    """Normal-side balance minus pending holds."""
    return balance.normal_sign * balance.balance - balance.held


def ensure_account(session: Session, code: str) -> LedgerAccount:
    """The account named ``code``, opened with a zero balance if it is new."""
    from wallet.ledger.accounts import parse_account

    spec = parse_account(code)
    return ensure_accounts(session, [spec])[code]


# --- The hot path of post_entry: one statement on PostgreSQL -------------


@dataclass(frozen=True, slots=True)
class LockedBalance:
    """A balance row as read under its row lock (plain values, no ORM object)."""

    account_id: int
    code: str
    balance: int  # raw Σ postings, debit positive
    held: int
    normal_sign: int
    may_go_negative: bool


Change = tuple[str, int, int]
"""``(account_code, delta, freed)``: the raw balance moves by ``delta`` and
``freed`` held units are released (posting a hold)."""


def overdraft(locked: Mapping[str, LockedBalance], changes: Iterable[Change]) -> str | None:
    """Why these changes would overdraw a guarded account, or ``None``.

    A change can overdraw only if it lowers the normal-side balance of an
    account that may not go negative, below what pending holds (after the
    release) leave available. ``_PG_POST`` states the same rule in SQL.
    """
    for code, delta, freed in changes:
        row = locked[code]
        normal_change = row.normal_sign * delta
        if row.may_go_negative or normal_change >= 0:
            continue
        free = row.normal_sign * row.balance - (row.held - freed)
        if free + normal_change < 0:
            return f"{code} has {free} available, the entry needs {-normal_change}"
    return None


_ACCOUNTS = table_of(LedgerAccount)
_BALANCES = table_of(LedgerBalance)
_ENTRIES = table_of(JournalEntry)
_POSTINGS = table_of(Posting)

_LOCK_COLUMNS = ("account_id", "code", "balance", "held", "normal_sign", "may_go_negative")

# PostgreSQL: the whole post in one statement (one round trip). ``locked``
# resolves the codes and locks the balance rows in ascending id order (the
# one global lock order, so concurrent entries queue, never deadlock); a
# concurrent writer's newer row version is what FOR UPDATE returns and what
# the UPDATE then changes, so no update is lost. ``change`` applies the
# overdraft rule of :func:`overdraft` to the locked values. The entry is
# inserted only if every account exists and no change overdraws, and ON
# CONFLICT makes ``(kind, ref)`` the idempotency check; postings and
# balances are written only with the new entry. Otherwise nothing at all is
# written and the caller decides from the returned rows (create accounts,
# refuse, or replay). Arrays keep the text fixed whatever the number of
# legs, so psycopg prepares it once per connection.
_PG_POST = (  # psycopg placeholders: run with exec_driver_sql (no compile step)
    """
    WITH locked AS MATERIALIZED (
        SELECT b.account_id, a.code, b.balance, b.held, b.normal_sign, b.may_go_negative
        FROM ledger_accounts AS a JOIN ledger_balances AS b ON b.account_id = a.id
        WHERE a.code = ANY(CAST(%(codes)s AS varchar[]))
        ORDER BY b.account_id
        FOR UPDATE OF b
    ), change AS MATERIALIZED (
        SELECT l.account_id, c.delta, c.freed,
            l.may_go_negative OR l.normal_sign * c.delta >= 0
            OR l.normal_sign * (l.balance + c.delta) - (l.held - c.freed) >= 0 AS ok
        FROM unnest(
            CAST(%(change_codes)s AS varchar[]),
            CAST(%(change_deltas)s AS numeric[]),
            CAST(%(change_freed)s AS numeric[])
        ) AS c (code, delta, freed)
        JOIN locked AS l ON l.code = c.code
    ), entry AS (
        INSERT INTO journal_entries (kind, ref, memo, created_at)
        SELECT CAST(%(kind)s AS varchar), CAST(%(ref)s AS varchar), CAST(%(memo)s AS text),
            CAST(%(now)s AS timestamptz)
        WHERE (SELECT count(*) FROM locked) = %(n_codes)s
            AND (SELECT count(*) FROM change WHERE ok) = %(n_changes)s
        ON CONFLICT (kind, ref) DO NOTHING
        RETURNING id
    ), legs AS (
        INSERT INTO postings (entry_id, account_id, asset, amount)
        SELECT entry.id, l.account_id, leg.asset, leg.amount
        FROM entry
        CROSS JOIN unnest(
            CAST(%(leg_codes)s AS varchar[]),
            CAST(%(leg_assets)s AS varchar[]),
            CAST(%(leg_amounts)s AS numeric[])
        ) WITH ORDINALITY AS leg (code, asset, amount, n)
        JOIN locked AS l ON l.code = leg.code
        ORDER BY leg.n
    ), moved AS (
        UPDATE ledger_balances AS b
        SET balance = b.balance + change.delta, held = b.held - change.freed,
            updated_at = CAST(%(now)s AS timestamptz)
        FROM entry, change
        WHERE b.account_id = change.account_id
    )
    SELECT l.account_id, l.code, l.balance, l.held, l.normal_sign, l.may_go_negative,
        entry.id AS entry_id
    FROM locked AS l LEFT JOIN entry ON true
    ORDER BY l.account_id
    """
)

_SQLITE_LOCK = (
    select(*(_ACCOUNTS.c.code if name == "code" else _BALANCES.c[name] for name in _LOCK_COLUMNS))
    .join_from(_ACCOUNTS, _BALANCES, _BALANCES.c.account_id == _ACCOUNTS.c.id)
    .where(_ACCOUNTS.c.code.in_(bindparam("codes", expanding=True)))
    .order_by(_BALANCES.c.account_id)
)

_SQLITE_MOVE = (
    update(_BALANCES)
    .where(_BALANCES.c.account_id == bindparam("b_account_id"))
    .values(
        balance=bindparam("b_balance", type_=MinorUnits),
        held=bindparam("b_held", type_=MinorUnits),
        updated_at=bindparam("b_now", type_=UTCDateTime),
    )
)


def try_post(
    session: Session,
    *,
    kind: str,
    ref: str,
    memo: str | None,
    now: datetime,
    legs: Sequence[tuple[str, str, int]],
    changes: Sequence[Change],
) -> tuple[dict[str, LockedBalance], int | None]:
    """Lock the legs' balance rows and, if it may, write the entry.

    ``legs`` are ``(account_code, asset, amount)``. Returns the locked rows
    as they were before the entry (accounts that do not exist are absent)
    and the new entry's id; ``None`` means nothing was written, because an
    account is missing, a change would overdraw (see :func:`overdraft`), or
    ``(kind, ref)`` is posted already. The row locks stay until the caller's
    transaction ends.
    """
    conn = session.connection()
    codes = sorted({leg[0] for leg in legs})
    if conn.dialect.name != "postgresql":
        return _sqlite_post(session, codes, kind, ref, memo, now, legs, changes)
    rows = conn.exec_driver_sql(
        _PG_POST,
        {
            "codes": codes,
            "n_codes": len(codes),
            "change_codes": [c[0] for c in changes],
            "change_deltas": [c[1] for c in changes],
            "change_freed": [c[2] for c in changes],
            "n_changes": len(changes),
            "kind": kind,
            "ref": ref,
            "memo": memo,
            "now": now,
            "leg_codes": [leg[0] for leg in legs],
            "leg_assets": [leg[1] for leg in legs],
            "leg_amounts": [leg[2] for leg in legs],
        },
    ).all()
    # NUMERIC arrives as Decimal: exact, made int here.
    locked = {
        code: LockedBalance(account_id, code, int(balance), int(held), sign, may_go_negative)
        for account_id, code, balance, held, sign, may_go_negative, _entry in rows
    }
    entry_id = rows[0][6] if rows else None
    if entry_id is not None:
        _expire_cached_balances(session, locked.values())
    return locked, entry_id


def _sqlite_post(
    session: Session,
    codes: list[str],
    kind: str,
    ref: str,
    memo: str | None,
    now: datetime,
    legs: Sequence[tuple[str, str, int]],
    changes: Sequence[Change],
) -> tuple[dict[str, LockedBalance], int | None]:
    """The same on SQLite, whose ``BEGIN IMMEDIATE`` already serialises writers."""
    rows = session.connection().execute(_SQLITE_LOCK, {"codes": codes})
    locked = {row[1]: LockedBalance(*row) for row in rows}
    if len(locked) < len(codes) or overdraft(locked, changes) is not None:
        return locked, None
    with session.begin_nested():  # several statements: all or none
        entry_id = session.execute(
            sqlite.insert(_ENTRIES)
            .values(kind=kind, ref=ref, memo=memo, created_at=now)
            .on_conflict_do_nothing()
            .returning(_ENTRIES.c.id)
        ).scalar_one_or_none()
        if entry_id is None:
            return locked, None
        session.execute(
            insert(_POSTINGS),
            [
                {"entry_id": entry_id, "account_id": locked[c].account_id, "asset": a, "amount": m}
                for c, a, m in legs
            ],
        )
        if changes:  # absolute values: the writer lock is held since BEGIN IMMEDIATE
            session.execute(
                _SQLITE_MOVE,
                [
                    {
                        "b_account_id": locked[code].account_id,
                        "b_balance": locked[code].balance + delta,
                        "b_held": locked[code].held - freed,
                        "b_now": now,
                    }
                    for code, delta, freed in changes
                ],
            )
    _expire_cached_balances(session, locked.values())
    return locked, int(entry_id)


def _expire_cached_balances(session: Session, rows: Iterable[LockedBalance]) -> None:
    """Balance objects this session loaded earlier are stale now: reload on use."""
    for row in rows:
        cached = session.identity_map.get(identity_key(LedgerBalance, row.account_id))
        if cached is not None:
            session.expire(cached, ["balance", "held", "updated_at"])
