"""Tables of the merchant features (migration ``0008_merchant_admin``).

Secrets never sit here in plain text: webhook signing secrets are sealed
(AES-GCM, :mod:`wallet.merchants.sealed`), API keys are stored as SHA-256.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import wallet.db.models  # noqa: F401 - users, merchants and payments, referenced below
from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow
from wallet.db.models._types import IdType, JsonType, enum_type, positive


class PayoutAccountStatus(enum.StrEnum):
    PENDING = "pending"  # validated, waiting out the cooling-off period
    ACTIVE = "active"  # payouts go here (mirrored in merchants.upi_vpa)
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"


class LinkStatus(enum.StrEnum):
    ACTIVE = "active"
    USED = "used"  # a payment was opened on it (single use)
    CANCELLED = "cancelled"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # permanent refusal or the retry budget ran out


class MerchantPayoutAccount(Base):
    """A payout VPA of a merchant: the active one, a pending change, or history.

    ``registered_name`` is the name RazorpayX's fund-account validation
    reported for the VPA, shown to the merchant before they commit to it.
    """

    __tablename__ = "merchant_payout_accounts"
    __table_args__ = (Index(None, "merchant_id", "status"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(IdType, ForeignKey("merchants.id"))
    vpa: Mapped[str] = mapped_column(String(255))
    registered_name: Mapped[str | None] = mapped_column(String(200))
    fund_account_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[PayoutAccountStatus] = mapped_column(
        enum_type(PayoutAccountStatus, "payout_account_status")
    )
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentLink(Base):
    """A dynamic QR: ``/m/<id>`` asks for ``amount_paise`` once, until ``expires_at``."""

    __tablename__ = "payment_links"
    __table_args__ = (positive("amount_paise"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # random, URL-safe
    merchant_id: Mapped[int] = mapped_column(IdType, ForeignKey("merchants.id"), index=True)
    amount_paise: Mapped[int] = mapped_column(MinorUnits)
    note: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[LinkStatus] = mapped_column(
        enum_type(LinkStatus, "payment_link_status"), default=LinkStatus.ACTIVE
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("payments.id"), unique=True
    )


class WebhookEndpoint(Base):
    """Where a merchant wants events. ``secret_sealed`` is bound to ``public_id``."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[int] = mapped_column(IdType, ForeignKey("merchants.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret_sealed: Mapped[str] = mapped_column(Text)
    secret_prefix: Mapped[str] = mapped_column(String(16))  # to tell secrets apart
    events: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event for one endpoint (a replay is a new row naming the original).

    ``dedupe_key`` makes enqueueing idempotent; the matching outbox message
    (``webhook:<dedupe_key>``) carries the retry schedule.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(IdType, ForeignKey("webhook_endpoints.id"), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus, "webhook_delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    replay_of: Mapped[int | None] = mapped_column(IdType, ForeignKey("webhook_deliveries.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: the log the settings page shows."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt_no"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(IdType, ForeignKey("webhook_deliveries.id"))
    attempt_no: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(default=0)


class MerchantApiKey(Base):
    """A scoped key for the merchant API (``tfm_…``), stored as its SHA-256."""

    __tablename__ = "merchant_api_keys"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(IdType, ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventCursor(Base):
    """How far a background scan has read an append-only table (by id)."""

    __tablename__ = "merchant_event_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
