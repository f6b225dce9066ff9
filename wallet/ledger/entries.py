"""Posting journal entries: validate, lock, check overdraft, write."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.db.base import utcnow
from wallet.db.models.ledger import JournalEntry, LedgerAccount, Posting
from wallet.db.rows import attach_written
from wallet.errors import (
    EntryConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidPosting,
    UnbalancedEntry,
)
from wallet.ledger._store import Change, LockedBalance, ensure_accounts, overdraft, try_post
from wallet.ledger.accounts import AccountSpec, account_for

PostingSpec = tuple[str, str, int]
"""``(account_code, asset, signed_minor)``; debit positive, never zero."""


@dataclass(frozen=True, slots=True)
class Leg:
    spec: AccountSpec
    amount: int


RESERVED_KIND_PREFIX = "hold."  # entries only wallet.ledger.holds may write


def validate_ref(kind: str, ref: str) -> None:
    if not isinstance(kind, str) or not 0 < len(kind) <= 64:
        raise InvalidPosting("an entry needs a kind of 1-64 characters")
    if not isinstance(ref, str) or not 0 < len(ref) <= 200:
        raise InvalidPosting("an entry needs a ref of 1-200 characters")


def validate_postings(postings: Sequence[PostingSpec]) -> list[Leg]:
    """Everything that can be checked without the database, in a fixed order.

    Shape (≥ 2 legs, integer non-zero amounts), then account codes and
    assets, then per-asset balance.
    """
    if len(postings) < 2:
        raise InvalidPosting("an entry needs at least two postings")
    for _code, _asset, amount in postings:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidAmount(f"posting amounts are integer minor units, got {amount!r}")
        if amount == 0:
            raise InvalidPosting("a posting cannot be zero")
    legs = [Leg(account_for(code, asset), amount) for code, asset, amount in postings]
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        totals[leg.spec.asset] += leg.amount
    unbalanced = {asset: total for asset, total in totals.items() if total != 0}
    if unbalanced:
        raise UnbalancedEntry(f"postings do not sum to zero per asset: {unbalanced}")
    return legs


def _signature(legs: Sequence[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    return sorted(legs)


def entry_postings(session: Session, entry_id: int) -> list[PostingSpec]:
    """The postings of an entry as ``(account_code, asset, amount)``."""
    rows = session.execute(
        select(LedgerAccount.code, Posting.asset, Posting.amount)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(Posting.entry_id == entry_id)
        .order_by(Posting.id)
    )
    return [(code, asset, amount) for code, asset, amount in rows]


def find_entry(session: Session, kind: str, ref: str) -> JournalEntry | None:
    return session.scalars(
        select(JournalEntry).where(JournalEntry.kind == kind, JournalEntry.ref == ref)
    ).one_or_none()


def _replay(session: Session, existing: JournalEntry, legs: Sequence[Leg]) -> JournalEntry:
    """A retried post: the same postings return the entry, others conflict."""
    wanted = _signature([(leg.spec.code, leg.spec.asset, leg.amount) for leg in legs])
    if _signature(entry_postings(session, existing.id)) != wanted:
        raise EntryConflict(
            f"entry {existing.kind}/{existing.ref} was already posted with other postings"
        )
    return existing


def apply_entry(
    session: Session,
    legs: Sequence[Leg],
    *,
    kind: str,
    ref: str,
    memo: str | None = None,
    release: Mapping[str, int] | None = None,
) -> JournalEntry:
    """Write a validated entry in the caller's transaction.

    ``release`` maps account codes to held amounts freed in the same step
    (posting a hold), so the overdraft check sees the hold gone and the
    entry posted at once.

    When every account exists (the usual case) this is one statement on
    PostgreSQL and needs no savepoint: it writes only if the entry may be
    posted, so a refusal has written nothing. An account's first use opens
    it inside a savepoint, so that a refused entry leaves no empty account
    behind.
    """
    release = release or {}
    deltas: dict[str, int] = defaultdict(int)
    for leg in legs:
        deltas[leg.spec.code] += leg.amount
    changes = [
        (code, deltas.get(code, 0), release.get(code, 0))
        for code in sorted(deltas.keys() | release.keys())
        if deltas.get(code, 0) or release.get(code, 0)
    ]
    rows = [(leg.spec.code, leg.spec.asset, leg.amount) for leg in legs]
    now = utcnow()
    locked, entry_id = try_post(
        session, kind=kind, ref=ref, memo=memo, now=now, legs=rows, changes=changes
    )
    if entry_id is None and len(locked) < len(deltas):
        with session.begin_nested():
            ensure_accounts(session, [leg.spec for leg in legs])
            locked, entry_id = try_post(
                session, kind=kind, ref=ref, memo=memo, now=now, legs=rows, changes=changes
            )
            return _outcome(session, locked, entry_id, legs, changes, kind, ref, memo, now)
    return _outcome(session, locked, entry_id, legs, changes, kind, ref, memo, now)


def _outcome(
    session: Session,
    locked: Mapping[str, LockedBalance],
    entry_id: int | None,
    legs: Sequence[Leg],
    changes: Sequence[Change],
    kind: str,
    ref: str,
    memo: str | None,
    now: datetime,
) -> JournalEntry:
    """The new entry, a replayed one, or the refusal; under the row locks."""
    if entry_id is not None:
        entry = JournalEntry(id=entry_id, kind=kind, ref=ref, memo=memo, created_at=now)
        return attach_written(session, entry)  # written with Core: attached without SQL
    # Nothing was written. Looked up under the locks: a concurrent twin that
    # held them has committed, so a retried entry is found and replayed,
    # even if posting it again would overdraw.
    existing = find_entry(session, kind, ref)
    if existing is not None:
        return _replay(session, existing, legs)
    refusal = overdraft(locked, changes)
    if refusal is not None:
        raise InsufficientFunds(refusal)
    # Same (kind, ref) committed by a transaction that locked other rows.
    raise EntryConflict(f"entry {kind}/{ref} was posted concurrently")


def post_entry(
    session: Session,
    postings: Sequence[PostingSpec],
    *,
    kind: str,
    ref: str,
    memo: str | None = None,
) -> JournalEntry:
    """Post one balanced entry inside the caller's transaction.

    ``postings`` are ``(account_code, asset, signed_minor)`` with debits
    positive. Unknown accounts with a valid code are created. Posting the
    same ``(kind, ref)`` again with the same postings returns the first
    entry and changes nothing; with other postings it raises
    :class:`EntryConflict`. Any refusal leaves the session as it was.
    """
    validate_ref(kind, ref)
    if kind.startswith(RESERVED_KIND_PREFIX):
        raise InvalidPosting(f"entry kinds starting {RESERVED_KIND_PREFIX!r} are reserved")
    legs = validate_postings(postings)
    return apply_entry(session, legs, kind=kind, ref=ref, memo=memo)
