"""The double-entry ledger: design overview.

**The invariant.** Every movement of value is a *journal entry*: two or
more *postings* of signed integer minor units (debit positive, never zero)
whose sum is zero per asset. Posted entries are never updated or deleted;
a correction is a new, reversing entry. An account's balance is the sum of
its postings; a running balance row caches it. Payer and merchant accounts
(``may_go_negative = False``) never go below zero, counting pending holds.

**Where it is enforced.**

- :func:`post_entry` (``entries``) validates shape, accounts, assets and the
  per-asset sum before touching the database. Then, in the caller's
  transaction, it resolves the account codes and locks the touched balance
  rows with ``SELECT … FOR UPDATE`` in ascending account id order (one
  global order, so concurrent entries queue instead of deadlocking),
  checks overdraft against ``balance − held`` on the locked rows, and
  writes the entry, its postings and the balance changes
  (``balance = balance + delta``) only if the entry may be posted. On
  PostgreSQL all of that is one statement (``_store._PG_POST``); on SQLite
  a few, under its single-writer lock. A refusal has therefore written
  nothing and the caller's transaction stays usable. An account's first
  use creates it (``INSERT … ON CONFLICT DO NOTHING``) inside a savepoint,
  so a refused entry leaves no empty account behind. Account ids are
  resolved by code inside the locking statement every time: nothing is
  cached across transactions, so a rolled-back account cannot be reused.
- Entries are unique per ``(kind, ref)``, and ``INSERT … ON CONFLICT DO
  NOTHING`` on that key is the idempotency check: a retried post with the
  same postings returns the first entry (at-least-once callers are safe,
  even if posting it again would overdraw), one with different postings
  raises :class:`~wallet.errors.EntryConflict`.
- In the database, on every backend: a posting's ``(account_id, asset)``
  references its account's, amounts are CHECKed non-zero, holds positive.
- On PostgreSQL the database enforces the rest itself, for SQL that
  bypasses this module too (``migrations/versions/0001_foundation.py``): a
  ``DEFERRABLE INITIALLY DEFERRED`` constraint trigger rejects, at commit,
  any entry with fewer than two postings or a non-zero sum per asset;
  triggers reject UPDATE and DELETE of postings and entries (and of the
  audit log and chain observations) and any change to a resolved hold; a
  CHECK on the balance row refuses an overdraft of a non-negative account.
- :func:`check_invariants` proves it after the fact: every entry balances,
  cached balances and held totals equal what postings and pending holds
  say, no non-negative account is overdrawn, holds and entries agree. The
  tests run it after every step; reconciliation should run it daily.

**Holds** (``holds``) are TigerBeetle-style two-phase transfers: a pending
reservation that is later posted (for at most the held amount) or voided,
exactly once.

Account codes and their types are described in :mod:`wallet.ledger.accounts`.
"""

from wallet.ledger._store import ensure_account
from wallet.ledger.accounts import AccountSpec, merchant_payable, parse_account, user_wallet
from wallet.ledger.balances import AccountBalance, derive_balance, get_balance
from wallet.ledger.entries import PostingSpec, entry_postings, find_entry, post_entry
from wallet.ledger.holds import place_hold, post_hold, void_hold
from wallet.ledger.invariants import check_invariants, find_violations

__all__ = [
    "AccountBalance",
    "AccountSpec",
    "PostingSpec",
    "check_invariants",
    "derive_balance",
    "ensure_account",
    "entry_postings",
    "find_entry",
    "find_violations",
    "get_balance",
    "merchant_payable",
    "parse_account",
    "place_hold",
    "post_entry",
    "post_hold",
    "user_wallet",
    "void_hold",
]
