"""Web Push subscriptions (moved from webapp/pay/models.py, which re-exports it).

A subscription is what the browser's ``PushManager.subscribe()`` returns:
the push service endpoint and the keys our messages are encrypted to
(RFC 8291). It belongs to one user; the endpoint is unique (a browser that
re-subscribes replaces its row). No Flask import here, so Alembic and the
tests' ``create_all`` can load it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, UTCDateTime, utcnow
from wallet.db.models._types import IdType


class PushSubscription(Base):
    """One browser's push endpoint for one user (``p256dh``/``auth`` are public keys)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(200))
