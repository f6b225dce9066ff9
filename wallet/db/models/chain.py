"""What the chains told us: insert-only observations and one credit per output.

Observations are never updated: status is derived from the current best
chain every time (NBXplorer's design), so a reorg is a new row, not an
edit. ``idx`` is the output index (UTXO), log index (EVM) or instruction
index (Solana). ``block_hash`` is empty for a mempool sighting.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow
from wallet.db.models._types import IdType, positive


class ChainObservation(Base):
    """One sighting of a transfer to one of our addresses (append-only)."""

    __tablename__ = "chain_observations"
    __table_args__ = (
        UniqueConstraint("chain", "txid", "idx", "block_hash"),
        positive("amount_minor"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    chain: Mapped[str] = mapped_column(String(32))
    txid: Mapped[str] = mapped_column(String(128))
    idx: Mapped[int]
    asset: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(128), index=True)
    amount_minor: Mapped[int] = mapped_column(MinorUnits)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))  # e.g. success, reverted, mempool
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Credit(Base):
    """The one ledger credit for a chain output: G3, enforced by the unique key."""

    __tablename__ = "credits"
    __table_args__ = (
        UniqueConstraint("chain", "txid", "idx"),
        positive("amount_minor"),
        # The risk engine's deposit-then-spend check joins a payer's addresses on every payment.
        Index("ix_credits_chain_address", "chain", "address"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    chain: Mapped[str] = mapped_column(String(32))
    txid: Mapped[str] = mapped_column(String(128))
    idx: Mapped[int]
    asset: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(128))
    amount_minor: Mapped[int] = mapped_column(MinorUnits)
    payment_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("payments.id"), index=True
    )
    journal_entry_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
