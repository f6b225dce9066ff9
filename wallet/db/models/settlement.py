"""Settlement of a confirmed payment: attempts, exchange orders, payouts.

Every external call is recorded here *before* it is made, keyed by our own
ids (RELIABILITY G3): the attempt id is the payout idempotency key and the
root of the exchange client order id, so a crashed run is recovered by
looking the outcome up, never by sending again blindly.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow
from wallet.db.models._types import (
    IdType,
    JsonType,
    enum_type,
    json_default,
    non_negative,
    positive,
)


class SettlementStatus(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    HELD = "held"  # handed to an operator


class AttemptState(enum.StrEnum):
    STARTED = "started"  # committed before any external call
    PAYOUT_SUBMITTED = "payout_submitted"
    PAYOUT_PROCESSED = "payout_processed"
    SOLD = "sold"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # terminal: a new attempt (new key) may follow
    UNKNOWN = "unknown"  # outcome must be looked up before anything else


class OrderSide(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(enum.StrEnum):
    NEW = "new"  # recorded, not yet sent
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # e.g. Binance -1007: query by client order id


class PayoutStatus(enum.StrEnum):
    """Our record of a RazorpayX payout (``created`` = recorded, not sent)."""

    CREATED = "created"
    PENDING = "pending"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    PROCESSED = "processed"
    REVERSED = "reversed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Settlement(Base):
    """The settlement of one payment (at most one per payment)."""

    __tablename__ = "settlements"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(36), ForeignKey("payments.id"), unique=True)
    status: Mapped[SettlementStatus] = mapped_column(
        enum_type(SettlementStatus, "settlement_status"), default=SettlementStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SettlementAttempt(Base):
    """One try at settling; ``id`` (uuid4 text) is the idempotency key."""

    __tablename__ = "settlement_attempts"
    __table_args__ = (UniqueConstraint("settlement_id", "attempt_no"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    settlement_id: Mapped[int] = mapped_column(IdType, ForeignKey("settlements.id"))
    attempt_no: Mapped[int]
    state: Mapped[AttemptState] = mapped_column(
        enum_type(AttemptState, "attempt_state"), default=AttemptState.STARTED
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ExchangeOrder(Base):
    """An order on a venue. Quantities in minor units of base/quote asset."""

    __tablename__ = "exchange_orders"
    __table_args__ = (
        positive("qty"),
        non_negative("filled_qty"),
        non_negative("quote_qty"),
        non_negative("fee"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    attempt_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("settlement_attempts.id"), index=True
    )
    venue: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))  # venue's symbol, e.g. ETHUSDT
    base_asset: Mapped[str] = mapped_column(String(32))
    quote_asset: Mapped[str] = mapped_column(String(32))
    side: Mapped[OrderSide] = mapped_column(enum_type(OrderSide, "order_side"))
    qty: Mapped[int] = mapped_column(MinorUnits)
    filled_qty: Mapped[int] = mapped_column(MinorUnits, default=0)
    quote_qty: Mapped[int] = mapped_column(MinorUnits, default=0)
    fee: Mapped[int] = mapped_column(MinorUnits, default=0)
    fee_asset: Mapped[str | None] = mapped_column(String(32))
    venue_order_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[OrderStatus] = mapped_column(
        enum_type(OrderStatus, "order_status"), default=OrderStatus.NEW
    )
    raw: Mapped[dict[str, Any]] = mapped_column(JsonType, default=json_default)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MerchantBankAccount(Base):
    """A merchant's bank account on file, for the IMPS fallback when UPI refuses its VPA.

    The account number is sealed at rest (:mod:`wallet.merchants.sealed`,
    context ``merchant-bank-account:<merchant_id>``); only its last four
    digits are readable. ``fund_account_id`` is the RazorpayX fund account
    created when it was registered, so settlement pays it without ever
    handling the number.
    """

    __tablename__ = "merchant_bank_accounts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(IdType, ForeignKey("merchants.id"), unique=True)
    holder_name: Mapped[str] = mapped_column(String(120))
    ifsc: Mapped[str] = mapped_column(String(11))
    account_number_sealed: Mapped[str] = mapped_column(Text)
    account_last4: Mapped[str] = mapped_column(String(4))
    fund_account_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payout(Base):
    """An INR payout to a VPA through RazorpayX (``X-Payout-Idempotency``)."""

    __tablename__ = "payouts"
    __table_args__ = (
        positive("amount_paise"),
        non_negative("fees_paise"),
        non_negative("tax_paise"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(36), unique=True)
    attempt_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("settlement_attempts.id"), index=True
    )
    payment_id: Mapped[str] = mapped_column(String(36), ForeignKey("payments.id"), index=True)
    amount_paise: Mapped[int] = mapped_column(MinorUnits)
    vpa: Mapped[str] = mapped_column(String(255))
    # Set on an IMPS fallback attempt: paid to this bank account, not to ``vpa``.
    bank_account_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("merchant_bank_accounts.id")
    )
    provider_payout_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[PayoutStatus] = mapped_column(
        enum_type(PayoutStatus, "payout_status"), default=PayoutStatus.CREATED
    )
    utr: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # What RazorpayX took from the float beside the amount (its fee and the GST on
    # it), as booked when the payout was processed; a reversal gives back the same.
    fees_paise: Mapped[int] = mapped_column(MinorUnits, default=0, server_default="0")
    tax_paise: Mapped[int] = mapped_column(MinorUnits, default=0, server_default="0")

    @property
    def charges_paise(self) -> int:
        """All RazorpayX took from the float beside the amount."""
        return self.fees_paise + self.tax_paise

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
