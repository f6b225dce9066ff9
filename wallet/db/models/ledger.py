"""Tables of the double-entry ledger; the rules live in :mod:`wallet.ledger`.

Amounts in ``postings`` are signed minor units, debit positive. An
account's ``balance`` row caches Σ postings.amount (debit positive, the raw
sum) and ``held``, the total of its pending holds in the account's normal
direction. ``normal_sign`` and ``may_go_negative`` are copied onto the
balance row so that PostgreSQL can check "no overdraft" on the row itself.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow
from wallet.db.models._types import IdType, enum_type, non_negative, positive


class AccountType(enum.StrEnum):
    """Accounting type; asset and expense accounts are debit-normal."""

    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"
    EQUITY = "equity"


class HoldStatus(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class LedgerAccount(Base):
    """One account in one asset, named by a structured ``code``.

    See :mod:`wallet.ledger.accounts` for the code grammar.
    """

    __tablename__ = "ledger_accounts"
    # (id, asset) is unique so that postings can reference both: a posting
    # in the wrong asset is then refused by a foreign key, on any backend.
    __table_args__ = (UniqueConstraint("id", "asset"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    code: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[AccountType] = mapped_column(enum_type(AccountType, "account_type"))
    asset: Mapped[str] = mapped_column(String(32))
    may_go_negative: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerBalance(Base):
    """Running balance of one account, locked (FOR UPDATE) by every change."""

    __tablename__ = "ledger_balances"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "asset"], ["ledger_accounts.id", "ledger_accounts.asset"]
        ),
        CheckConstraint("normal_sign IN (1, -1)", name="normal_sign_unit"),
        non_negative("held"),
    )

    account_id: Mapped[int] = mapped_column(IdType, primary_key=True)
    asset: Mapped[str] = mapped_column(String(32))
    normal_sign: Mapped[int] = mapped_column(SmallInteger)
    may_go_negative: Mapped[bool]
    balance: Mapped[int] = mapped_column(MinorUnits, default=0)
    held: Mapped[int] = mapped_column(MinorUnits, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class JournalEntry(Base):
    """A balanced set of postings, unique per ``(kind, ref)``; never edited."""

    __tablename__ = "journal_entries"
    __table_args__ = (UniqueConstraint("kind", "ref"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(200))
    memo: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Posting(Base):
    """One leg of an entry: signed minor units, debit positive, never zero."""

    __tablename__ = "postings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "asset"], ["ledger_accounts.id", "ledger_accounts.asset"]
        ),
        CheckConstraint("CAST(amount AS NUMERIC) <> 0", name="amount_non_zero"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    entry_id: Mapped[int] = mapped_column(IdType, ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(IdType, index=True)
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(MinorUnits)


class LedgerHold(Base):
    """A reservation on an account (a two-phase transfer's pending half)."""

    __tablename__ = "ledger_holds"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "asset"], ["ledger_accounts.id", "ledger_accounts.asset"]
        ),
        positive("amount"),
        CheckConstraint(
            "posted_amount IS NULL OR CAST(posted_amount AS NUMERIC) <= CAST(amount AS NUMERIC)",
            name="posted_within_hold",
        ),
        CheckConstraint(
            "(status = 'pending') = (resolved_at IS NULL)", name="resolved_iff_not_pending"
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ref: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[int] = mapped_column(IdType, index=True)
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(MinorUnits)
    status: Mapped[HoldStatus] = mapped_column(
        enum_type(HoldStatus, "hold_status"), default=HoldStatus.PENDING
    )
    posted_amount: Mapped[int | None] = mapped_column(MinorUnits)
    journal_entry_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
