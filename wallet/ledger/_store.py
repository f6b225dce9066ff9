"""Rows behind the ledger: get-or-create accounts, lock balances in order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from wallet.db.models.ledger import LedgerAccount, LedgerBalance
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
    rows = session.scalars(select(LedgerAccount).where(LedgerAccount.code.in_(list(wanted))))
    return {row.code: row for row in rows}


def lock_balances(session: Session, account_ids: Iterable[int]) -> dict[int, LedgerBalance]:
    """Lock the balance rows (FOR UPDATE) in ascending account id order.

    One global lock order means two entries touching the same accounts
    queue behind each other instead of deadlocking. SQLite ignores FOR
    UPDATE; its ``BEGIN IMMEDIATE`` already serialises writers.
    """
    ids = sorted(set(account_ids))
    rows = session.scalars(
        select(LedgerBalance)
        .where(LedgerBalance.account_id.in_(ids))
        .order_by(LedgerBalance.account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.account_id: row for row in rows}


def available(balance: LedgerBalance) -> int:
    """Normal-side balance minus pending holds."""
    return balance.normal_sign * balance.balance - balance.held


def ensure_account(session: Session, code: str) -> LedgerAccount:
    """The account named ``code``, opened with a zero balance if it is new."""
    from wallet.ledger.accounts import parse_account

    spec = parse_account(code)
    return ensure_accounts(session, [spec])[code]
