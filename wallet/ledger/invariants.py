"""Proof that the books are sound: run in tests, by the asset check, on demand."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from wallet.db.base import MinorUnits
from wallet.db.models.ledger import (
    HoldStatus,
    JournalEntry,
    LedgerAccount,
    LedgerBalance,
    LedgerHold,
    Posting,
)
from wallet.errors import InvariantViolation
from wallet.ledger.accounts import parse_account


def _sums(
    session: Session, keys: tuple[Any, ...], amount: Any, base: Select[Any]
) -> dict[tuple[Any, ...], int]:
    """Σ amount grouped by ``keys``, exact on both backends.

    PostgreSQL sums NUMERIC exactly in SQL; SQLite would sum the text column
    as a float, so there the rows are summed in Python.
    """
    if session.get_bind().dialect.name == "postgresql":
        stmt = base.with_only_columns(*keys, func.sum(amount, type_=MinorUnits)).group_by(*keys)
        return {tuple(row[:-1]): int(row[-1]) for row in session.execute(stmt)}
    totals: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in session.execute(base.with_only_columns(*keys, amount)):
        totals[tuple(row[:-1])] += row[-1]
    return dict(totals)


def find_violations(session: Session) -> list[str]:
    """Every broken ledger rule, as a human-readable line (empty = sound)."""
    problems: list[str] = []
    by_entry = _sums(session, (Posting.entry_id, Posting.asset), Posting.amount, select(Posting))
    for (entry_id, asset), total in by_entry.items():
        if total != 0:
            problems.append(f"entry {entry_id} sums to {total} {asset}, not zero")
    counts = session.execute(
        select(JournalEntry.id, func.count(Posting.id))
        .outerjoin(Posting, Posting.entry_id == JournalEntry.id)
        .group_by(JournalEntry.id)
        .having(func.count(Posting.id) < 2)
    )
    problems.extend(f"entry {eid} has {n} postings" for eid, n in counts)

    posted = _sums(session, (Posting.account_id,), Posting.amount, select(Posting))
    pending = _sums(
        session,
        (LedgerHold.account_id,),
        LedgerHold.amount,
        select(LedgerHold).where(LedgerHold.status == HoldStatus.PENDING),
    )
    rows = session.execute(
        select(LedgerAccount, LedgerBalance).outerjoin(
            LedgerBalance, LedgerBalance.account_id == LedgerAccount.id
        )
    )
    for account, bal in rows:
        if bal is None:
            problems.append(f"{account.code} has no balance row")
            continue
        spec = parse_account(account.code)
        if (spec.normal_sign, spec.may_go_negative, spec.asset) != (
            bal.normal_sign,
            bal.may_go_negative,
            bal.asset,
        ) or (spec.type, spec.may_go_negative) != (account.type, account.may_go_negative):
            problems.append(f"{account.code} rows disagree with its code")
        want_balance = posted.get((account.id,), 0)
        want_held = pending.get((account.id,), 0)
        if bal.balance != want_balance:
            problems.append(f"{account.code} caches {bal.balance}, postings sum to {want_balance}")
        if bal.held != want_held:
            problems.append(f"{account.code} caches held {bal.held}, pending holds {want_held}")
        if not account.may_go_negative and bal.normal_sign * bal.balance - bal.held < 0:
            problems.append(f"{account.code} is overdrawn")

    holds = session.execute(
        select(LedgerHold, JournalEntry).outerjoin(
            JournalEntry, JournalEntry.id == LedgerHold.journal_entry_id
        )
    )
    for hold, entry in holds:
        if hold.status is HoldStatus.POSTED:
            if entry is None or (entry.kind, entry.ref) != ("hold.post", hold.ref):
                problems.append(f"posted hold {hold.ref} has no matching entry")
        elif entry is not None or hold.posted_amount is not None:
            problems.append(f"{hold.status.value} hold {hold.ref} carries a posting")
    return problems


def check_invariants(session: Session) -> None:
    """Raise :class:`InvariantViolation` listing every broken rule, if any."""
    problems = find_violations(session)
    if problems:
        raise InvariantViolation("ledger invariants violated:\n" + "\n".join(problems))
