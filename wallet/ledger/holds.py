"""Holds: two-phase transfers (TigerBeetle's pending → posted | voided).

A hold reserves part of an account's balance: ``available = balance −
held``, and no overdraft check lets an entry spend what is held. Each hold
is resolved exactly once: posted (into a real entry, for at most the held
amount; any remainder is released) or voided. A retried resolution that
repeats the first one returns its result; the opposite one is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from wallet.db.atomic import atomic
from wallet.db.base import utcnow
from wallet.db.models.ledger import (
    HoldStatus,
    JournalEntry,
    LedgerAccount,
    LedgerBalance,
    LedgerHold,
)
from wallet.db.rows import adopt, table_of
from wallet.db.upsert import dialect_name, insert_unless_taken
from wallet.errors import (
    EntryConflict,
    HoldConflict,
    HoldNotFound,
    HoldNotPending,
    InsufficientFunds,
    InvalidAmount,
    InvalidPosting,
    InvariantViolation,
)
from wallet.ledger._store import available, ensure_accounts, lock_balances
from wallet.ledger.accounts import account_for
from wallet.ledger.entries import Leg, _replay, apply_entry, validate_postings

HOLD_POST_KIND = "hold.post"  # reserved: post_entry refuses it


def _check_amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(f"hold amounts are integer minor units, got {amount!r}")
    if amount <= 0:
        raise InvalidPosting("a hold amount must be positive")
    return amount


def _check_ref(ref: str) -> None:
    if not isinstance(ref, str) or not 0 < len(ref) <= 200:
        raise InvalidPosting("a hold needs a ref of 1-200 characters")


def place_hold(
    session: Session, account_code: str, asset: str, amount: int, *, ref: str
) -> LedgerHold:
    """Reserve ``amount`` (normal-side minor units) of an account under ``ref``.

    Placing the same ``ref`` again for the same account and amount returns
    the existing hold; anything else under that ref is a :class:`HoldConflict`.
    """
    _check_ref(ref)
    _check_amount(amount)
    spec = account_for(account_code, asset)
    with atomic(session):
        account = ensure_accounts(session, [spec])[spec.code]
        row = lock_balances(session, [account.id])[account.id]
        # Insert first and look only if the ref is taken: a new hold (the usual
        # case) costs no read. A refusal below undoes the insert with the block.
        hold = _insert_new(session, ref, account.id, spec.asset, amount)
        if hold is None:
            existing = _find(session, ref)
            if existing is None or existing.account_id != account.id or existing.amount != amount:
                raise HoldConflict(f"hold {ref!r} exists for another account or amount")
            return existing
        if not account.may_go_negative and available(row) < amount:
            raise InsufficientFunds(
                f"{spec.code} has {available(row)} available, the hold needs {amount}"
            )
        _add_held(session, row, amount)
        return hold


def _add_held(session: Session, row: LedgerBalance, amount: int) -> None:
    """``held += amount`` on the locked balance row: one UPDATE, without a flush.

    The sum is made here, not in SQL: SQLite keeps minor units as text and
    would add them as floats. The row is locked, so the value it read is
    current. The loaded row is given the new values as its committed state,
    so the ORM neither writes them again nor sees a change.
    """
    now, held = utcnow(), row.held + amount
    session.execute(_set_held(), {"b_id": row.account_id, "b_held": held, "b_at": now})
    set_committed_value(row, "held", held)
    set_committed_value(row, "updated_at", now)


@cache
def _set_held() -> Any:
    table = table_of(LedgerBalance)
    return (
        update(table)
        .where(table.c.account_id == bindparam("b_id"))
        .values(held=bindparam("b_held"), updated_at=bindparam("b_at"))
    )


def _insert_new(
    session: Session, ref: str, account_id: int, asset: str, amount: int
) -> LedgerHold | None:
    """``INSERT … ON CONFLICT (ref) DO NOTHING RETURNING``: the new hold, or None if
    ``ref`` is taken (a concurrent twin makes this wait for its outcome)."""
    values = session.execute(
        _hold_insert(dialect_name(session)),
        {"b_ref": ref, "b_account": account_id, "b_asset": asset, "b_amount": amount},
    ).one_or_none()
    if values is None:
        return None
    return adopt(session, LedgerHold, values._asdict())


@cache
def _hold_insert(dialect: str) -> Any:
    """Built once per dialect: every custodial payment places a hold."""
    return insert_unless_taken(
        dialect,
        LedgerHold,
        ["ref"],
        ref=bindparam("b_ref"),
        account_id=bindparam("b_account"),
        asset=bindparam("b_asset"),
        amount=bindparam("b_amount"),
    )


def post_hold(
    session: Session, ref: str, destinations: Sequence[tuple[str, int]], *, memo: str | None = None
) -> JournalEntry:
    """Turn a pending hold into an entry paying ``destinations``.

    ``destinations`` are ``(account_code, amount)`` with positive amounts
    in the hold's asset; their total may be less than the hold (the rest is
    released). The held account gives up the total of its normal balance
    and each destination takes the opposite leg, as entry
    ``(hold.post, ref)``.
    """
    _check_ref(ref)
    if not destinations:
        raise InvalidPosting("posting a hold needs at least one destination")
    for _code, amount in destinations:
        _check_amount(amount)
    with session.begin_nested():
        hold = _lock(session, ref)
        held = session.get_one(LedgerAccount, hold.account_id)
        if any(code == held.code for code, _amount in destinations):
            raise InvalidPosting(f"hold {ref!r} cannot be posted to its own account")
        sign = account_for(held.code, hold.asset).normal_sign
        total = sum(amount for _code, amount in destinations)
        legs = validate_postings(
            [(held.code, hold.asset, -sign * total)]
            + [(code, hold.asset, sign * amount) for code, amount in destinations]
        )
        if hold.status is HoldStatus.POSTED:
            return _posted_again(session, hold, legs)
        if hold.status is not HoldStatus.PENDING:
            raise HoldNotPending(f"hold {ref!r} is {hold.status.value}")
        if total > hold.amount:
            raise InvalidPosting(f"hold {ref!r} holds {hold.amount}, cannot post {total}")
        entry = apply_entry(
            session,
            legs,
            kind=HOLD_POST_KIND,
            ref=ref,
            memo=memo,
            release={held.code: hold.amount},
        )
        hold.status = HoldStatus.POSTED
        hold.posted_amount = total
        hold.journal_entry_id = entry.id
        hold.resolved_at = utcnow()
        session.flush()
        return entry


def void_hold(session: Session, ref: str) -> LedgerHold:
    """Release a pending hold; voiding a voided hold again is a no-op."""
    _check_ref(ref)
    with session.begin_nested():
        hold = _lock(session, ref)
        if hold.status is HoldStatus.VOIDED:
            return hold
        if hold.status is not HoldStatus.PENDING:
            raise HoldNotPending(f"hold {ref!r} is {hold.status.value}")
        row = lock_balances(session, [hold.account_id])[hold.account_id]
        row.held -= hold.amount
        hold.status = HoldStatus.VOIDED
        hold.resolved_at = utcnow()
        session.flush()
        return hold


def _find(session: Session, ref: str) -> LedgerHold | None:
    return session.scalars(select(LedgerHold).where(LedgerHold.ref == ref)).one_or_none()


def _lock(session: Session, ref: str) -> LedgerHold:
    """The hold row, locked; always taken before any balance row."""
    hold = session.scalars(
        select(LedgerHold)
        .where(LedgerHold.ref == ref)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if hold is None:
        raise HoldNotFound(f"no hold {ref!r}")
    return hold


def _posted_again(session: Session, hold: LedgerHold, legs: Sequence[Leg]) -> JournalEntry:
    """A retried post: the same postings return the entry, others conflict."""
    if hold.journal_entry_id is None:
        raise InvariantViolation(f"posted hold {hold.ref!r} has no entry")
    entry = session.get_one(JournalEntry, hold.journal_entry_id)
    try:
        return _replay(session, entry, legs)
    except EntryConflict:
        raise HoldNotPending(f"hold {hold.ref!r} was already posted differently") from None
