"""Quotes, payments and each payment's timeline.

A payment's ``status`` changes only through
:func:`wallet.payments.transitions.transition`, which also writes the
:class:`PaymentEvent` row; nothing else should assign it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow
from wallet.db.models._types import IdType, JsonType, enum_type, json_default, positive
from wallet.payments.states import PaymentStatus


class QuoteStatus(enum.StrEnum):
    ISSUED = "issued"
    ACCEPTED = "accepted"  # a payment was opened on it
    EXPIRED = "expired"


class PaymentSource(enum.StrEnum):
    CUSTODIAL = "custodial"  # from the payer's platform wallet; we sign
    EXTERNAL = "external"  # from the payer's own wallet to a deposit address


class Quote(Base):
    """A locked price: pay ``amount_minor`` of ``asset`` for ``amount_inr_paise``.

    ``rate`` is the exact decimal string of INR per one whole unit of the
    asset that produced the amounts (display and audit; the integers are
    the truth). ``fees`` and ``route`` record how the price was built.
    """

    __tablename__ = "quotes"
    __table_args__ = (positive("amount_minor"), positive("amount_inr_paise"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4 text
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    asset: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int] = mapped_column(MinorUnits)
    amount_inr_paise: Mapped[int] = mapped_column(MinorUnits)
    rate: Mapped[str] = mapped_column(String(80))
    fees: Mapped[dict[str, Any]] = mapped_column(JsonType, default=json_default)
    route: Mapped[dict[str, Any]] = mapped_column(JsonType, default=json_default)
    payee_vpa: Mapped[str] = mapped_column(String(255))
    payee_name: Mapped[str | None] = mapped_column(String(200))
    # The single-use merchant link (``payment_links.id``) this quote pays, if any.
    merchant_link_id: Mapped[str | None] = mapped_column(String(40), default=None)
    status: Mapped[QuoteStatus] = mapped_column(
        enum_type(QuoteStatus, "quote_status"), default=QuoteStatus.ISSUED
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """One payer paying one UPI payee in one asset.

    ``id`` (uuid4 text, 36 chars) doubles as the payout idempotency key.
    ``version`` increases with every transition.
    """

    __tablename__ = "payments"
    __table_args__ = (
        positive("amount_minor"),
        positive("amount_inr_paise"),
        # The risk engine's fan-in check reads a payee's payments on every payment.
        Index("ix_payments_payee_vpa_created_at", "payee_vpa", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    quote_id: Mapped[str] = mapped_column(String(36), ForeignKey("quotes.id"), unique=True)
    merchant_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("merchants.id"), index=True)
    payee_vpa: Mapped[str] = mapped_column(String(255))
    payee_name: Mapped[str | None] = mapped_column(String(200))
    asset: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int] = mapped_column(MinorUnits)
    amount_inr_paise: Mapped[int] = mapped_column(MinorUnits)
    source: Mapped[PaymentSource] = mapped_column(enum_type(PaymentSource, "payment_source"))
    status: Mapped[PaymentStatus] = mapped_column(
        enum_type(PaymentStatus, "payment_status"), default=PaymentStatus.QUOTE_ISSUED, index=True
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    deposit_address: Mapped[str | None] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PaymentEvent(Base):
    """One step of a payment's timeline; ``from_status`` is empty at creation."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(36), ForeignKey("payments.id"), index=True)
    from_status: Mapped[PaymentStatus | None] = mapped_column(
        enum_type(PaymentStatus, "from_status")
    )
    to_status: Mapped[PaymentStatus] = mapped_column(enum_type(PaymentStatus, "to_status"))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]  # the payment's version after this step
    journal_entry_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("journal_entries.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
