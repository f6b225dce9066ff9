"""Tables settlement adds: webhook dedupe, sell batches and their members.

- ``payout_webhook_events``: one row per RazorpayX event id (unique), so a
  redelivered or replayed webhook is recognised and applied at most once.
- ``sell_batches``: one sale of one asset along one route, per window.
  The id roots every leg's client order id, and the row is committed before
  any order is sent; ``lease_until`` lets exactly one worker sell it at a
  time (Binance keeps client ids unique only among *open* orders).
- ``sell_batch_items``: which payment's crypto a batch sells (a payment is
  in at most one batch: unique ``payment_id``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow
from wallet.db.models._types import IdType, JsonType, enum_type, json_default, positive


class PayoutWebhookEvent(Base):
    """A RazorpayX webhook delivery we accepted (signature verified)."""

    __tablename__ = "payout_webhook_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    provider_payout_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str | None] = mapped_column(String(32))
    applied: Mapped[bool] = mapped_column(default=False)  # moved our payout forward
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SellBatchStatus(enum.StrEnum):
    PENDING = "pending"  # members claimed, no order sent yet
    SELLING = "selling"  # at least one leg recorded; resume by looking orders up
    BOOKED = "booked"  # every leg filled and posted; members completed


class SellBatch(Base):
    """One market sale of ``qty_minor`` of ``asset`` along ``route``."""

    __tablename__ = "sell_batches"
    __table_args__ = (UniqueConstraint("asset", "window_key"), positive("qty_minor"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4 hex (32)
    asset: Mapped[str] = mapped_column(String(32))
    window_key: Mapped[str] = mapped_column(String(64))
    route: Mapped[dict[str, Any]] = mapped_column(JsonType, default=json_default)
    qty_minor: Mapped[int] = mapped_column(MinorUnits)
    target_paise: Mapped[int] = mapped_column(MinorUnits)  # Σ quoted targets of members
    proceeds_paise: Mapped[int | None] = mapped_column(MinorUnits)
    status: Mapped[SellBatchStatus] = mapped_column(
        enum_type(SellBatchStatus, "sell_batch_status"), default=SellBatchStatus.PENDING
    )
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SellBatchItem(Base):
    """One payment's crypto inside a batch."""

    __tablename__ = "sell_batch_items"
    __table_args__ = (positive("amount_minor"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), ForeignKey("sell_batches.id"), index=True)
    payment_id: Mapped[str] = mapped_column(String(36), ForeignKey("payments.id"), unique=True)
    amount_minor: Mapped[int] = mapped_column(MinorUnits)
    target_paise: Mapped[int] = mapped_column(MinorUnits)
