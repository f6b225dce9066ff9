"""Custody tables: seeds, signer usage, credit reversals and reinstatements, withdrawals, sweeps.

``custody_keys`` holds, per chain family, the BIP39 seed encrypted under a
data key (AES-GCM) and that data key wrapped by the master key (see
:mod:`wallet.custody.kms`). Only ciphertexts, nonces, the master key's
public id and account-level *public* keys (xpubs) are stored.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow
from wallet.db.claims import Claimable
from wallet.db.models._types import IdType, JsonType, enum_type, json_default, positive


class CustodyKey(Base):
    """One family's seed envelope (evm, solana, utxo) and its public keys."""

    __tablename__ = "custody_keys"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    family: Mapped[str] = mapped_column(String(16), unique=True)
    seed_nonce: Mapped[bytes] = mapped_column(LargeBinary(16))
    seed_ciphertext: Mapped[bytes] = mapped_column(LargeBinary(256))
    master_key_id: Mapped[str] = mapped_column(String(64))
    data_key_nonce: Mapped[bytes] = mapped_column(LargeBinary(16))
    data_key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary(64))
    # chain -> account-level extended public key (none for Solana: no public derivation)
    xpubs: Mapped[dict[str, str]] = mapped_column(JsonType, default=json_default)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignerDailyUsage(Base):
    """What the signer has signed per UTC day, chain and asset (its daily cap)."""

    __tablename__ = "signer_daily_usage"
    __table_args__ = (UniqueConstraint("day", "chain", "asset"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    chain: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(32))
    used_minor: Mapped[int] = mapped_column(MinorUnits, default=0)


class CreditReversal(Base):
    """A credit whose block left the best chain after it was posted (flagged)."""

    __tablename__ = "credit_reversals"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    credit_id: Mapped[int] = mapped_column(IdType, ForeignKey("credits.id"), unique=True)
    journal_entry_id: Mapped[int] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WithdrawalStatus(enum.StrEnum):
    HELD = "held"  # ledger hold placed, nothing signed yet: the signer's queue
    HELD_FOR_REVIEW = "held_for_review"  # hold placed, parked until an admin decides
    BROADCAST = "broadcast"
    POSTED = "posted"  # confirmed on chain, hold posted
    FAILED = "failed"  # refused or dropped, hold voided
    REJECTED = "rejected"  # an admin refused it after review, hold voided


class Withdrawal(Claimable, Base):
    """A user's send to an external address: hold → broadcast → confirm → post.

    ``held`` and ``broadcast`` rows are custody's queue: the withdrawal
    worker (:mod:`wallet.custody.withdrawal_worker`) claims them with a
    lease (``claimed_by``, ``lease_expires_at``); the status index keeps an
    idle worker's look at the queue one index probe.
    """

    __tablename__ = "withdrawals"
    __table_args__ = (positive("amount_minor"), Index(None, "status", "updated_at"))

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)  # idempotency, ours
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    chain: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str] = mapped_column(String(128))
    amount_minor: Mapped[int] = mapped_column(MinorUnits)
    status: Mapped[WithdrawalStatus] = mapped_column(
        enum_type(WithdrawalStatus, "withdrawal_status"), default=WithdrawalStatus.HELD
    )
    txid: Mapped[str | None] = mapped_column(String(128))
    error_code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, str]] = mapped_column(JsonType, default=json_default)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CreditReinstatement(Base):
    """A reversed credit whose transaction came back in block ``block_hash``.

    One row per ``(credit, block_hash)``: the unique key makes the re-credit
    exactly once per re-inclusion. If that block leaves the best chain too,
    ``reversal_entry_id`` records the entry that took the re-credit back.
    """

    __tablename__ = "credit_reinstatements"
    __table_args__ = (UniqueConstraint("credit_id", "block_hash"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    credit_id: Mapped[int] = mapped_column(IdType, ForeignKey("credits.id"), index=True)
    block_hash: Mapped[str] = mapped_column(String(128))
    journal_entry_id: Mapped[int] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    reversal_entry_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SweepKind(enum.StrEnum):
    SWEEP = "sweep"  # a user deposit address -> the hot wallet
    COLD = "cold"  # hot wallet surplus -> the configured cold address


class SweepStatus(enum.StrEnum):
    PLANNED = "planned"  # recorded, nothing signed
    TOPUP = "topup"  # gas/rent top-up broadcast, waiting for it to land
    SENT = "sent"  # the sweep itself signed and broadcast (amount fixed)
    CONFIRMED = "confirmed"  # landed; fees booked
    FAILED = "failed"  # refused, reverted or dropped; a later deposit plans a new one


class CustodySweep(Base):
    """One move of our own coins between our addresses, keyed by its sweep id.

    ``key`` is the sweep id; the top-up and the transfer broadcast under
    ``<key>:topup`` and ``<key>:tx`` (:mod:`wallet.chains.broadcast`), so a
    retry re-sends the same signed transactions. ``amount_minor`` is fixed
    when the transfer is first signed.
    """

    __tablename__ = "custody_sweeps"
    __table_args__ = (
        Index("ix_custody_sweeps_pair", "chain", "asset", "from_address"),
        Index(None, "status"),  # the sweep worker's idle probe: any sweep open?
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[SweepKind] = mapped_column(enum_type(SweepKind, "sweep_kind"))
    chain: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(32))
    from_address: Mapped[str] = mapped_column(String(128))
    to_address: Mapped[str] = mapped_column(String(128))
    amount_minor: Mapped[int | None] = mapped_column(MinorUnits)
    topup_minor: Mapped[int | None] = mapped_column(MinorUnits)
    fee_minor: Mapped[int] = mapped_column(MinorUnits, default=0)  # native units booked
    status: Mapped[SweepStatus] = mapped_column(
        enum_type(SweepStatus, "sweep_status"), default=SweepStatus.PLANNED
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
