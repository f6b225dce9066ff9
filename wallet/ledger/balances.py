"""Reading balances: the cached running balance and the derivation from postings.

All figures are on the account's normal side (what a user would call their
balance: positive for money a payer holds with us), in minor units.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.db.models.ledger import LedgerAccount, LedgerBalance, Posting
from wallet.ledger.accounts import parse_account


@dataclass(frozen=True, slots=True)
class AccountBalance:
    code: str
    asset: str
    balance: int  # normal side, posted entries only
    held: int  # pending holds
    available: int  # balance - held


def get_balance(session: Session, code: str) -> AccountBalance:
    """Cached balance of ``code``; zero for an account never used."""
    spec = parse_account(code)
    row = session.execute(
        select(LedgerBalance)
        .join(LedgerAccount, LedgerAccount.id == LedgerBalance.account_id)
        .where(LedgerAccount.code == code)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        return AccountBalance(code, spec.asset, 0, 0, 0)
    normal = row.normal_sign * row.balance
    return AccountBalance(code, spec.asset, normal, row.held, normal - row.held)


def derive_balance(session: Session, code: str) -> int:
    """Normal-side balance recomputed from the postings (exact on both backends)."""
    spec = parse_account(code)
    amounts = session.scalars(
        select(Posting.amount)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.code == code)
    )
    # Summed in Python: SQLite would sum the text column as a float.
    return spec.normal_sign * sum(amounts)
