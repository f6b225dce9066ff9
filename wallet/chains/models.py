"""Chain-side state we own: scan cursors, broadcasts (idempotent sends), EVM nonces.

A broadcast row is written, with the *signed* transaction, before the
first send: a retry with the same idempotency key re-sends those exact
bytes (same txid), never a new transaction. Signed transactions are public
once broadcast; they carry no key material.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow
from wallet.db.models._types import IdType, enum_type


class ScanCursor(Base):
    """The last block a scanner finished, with its hash to detect reorgs."""

    __tablename__ = "scan_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "ethereum"
    height: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BroadcastStatus(enum.StrEnum):
    SIGNED = "signed"  # recorded, maybe sent: the outcome is looked up, never assumed
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"  # mined and reverted, or refused by the node
    DROPPED = "dropped"  # definitively never included (expired / replaced)


class ChainBroadcast(Base):
    """One signed transfer, keyed by our idempotency key."""

    __tablename__ = "chain_broadcasts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    chain: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    from_address: Mapped[str] = mapped_column(String(128))
    to_address: Mapped[str] = mapped_column(String(128))
    amount_minor: Mapped[int] = mapped_column(MinorUnits)
    txid: Mapped[str] = mapped_column(String(128), index=True)
    raw_tx: Mapped[str] = mapped_column(Text)  # hex (EVM, UTXO) or base64 (Solana)
    nonce: Mapped[int | None] = mapped_column(BigInteger)  # EVM
    last_valid_height: Mapped[int | None] = mapped_column(BigInteger)  # Solana
    fee_minor: Mapped[int | None] = mapped_column(MinorUnits)
    status: Mapped[BroadcastStatus] = mapped_column(
        enum_type(BroadcastStatus, "broadcast_status"), default=BroadcastStatus.SIGNED
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class EvmNonce(Base):
    """Next nonce we will use for an address: allocated under a row lock."""

    __tablename__ = "evm_nonces"
    __table_args__ = (UniqueConstraint("chain", "address"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    chain: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(64))
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class ScannedBlock(Base):
    """Recent blocks a scanner saw (height, hash): where to walk back to on a reorg.

    A cache pruned to a window behind the cursor; observations keep their
    own block hash forever.
    """

    __tablename__ = "scanned_blocks"
    __table_args__ = (UniqueConstraint("name", "height"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    height: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(128))
