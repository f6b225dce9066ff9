"""Tables of the admin panel (migration ``0008_merchant_admin``)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

import wallet.db.models  # noqa: F401 - users, referenced below
from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow
from wallet.db.models._types import IdType, JsonType, enum_type, json_default


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    EXECUTED = "executed"  # approved by a second admin and carried out
    REJECTED = "rejected"
    FAILED = "failed"  # approved, but the action was refused (e.g. the payment moved on)


class PendingApproval(Base):
    """An action waiting for a second admin (the two-admin rule).

    The database refuses ``decided_by = requested_by``; at most one pending
    request per (action, subject).
    """

    __tablename__ = "pending_approvals"
    __table_args__ = (
        CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="second_admin"),
        Index(
            "uq_pending_approvals_open",
            "action",
            "subject_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    amount_paise: Mapped[int | None] = mapped_column(MinorUnits)
    reason: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JsonType, default=json_default)
    status: Mapped[ApprovalStatus] = mapped_column(
        enum_type(ApprovalStatus, "approval_status"), default=ApprovalStatus.PENDING
    )
    requested_by: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text)


class ExchangeAccount(Base):
    """A venue's API credentials (sealed, never shown again) and whether we trade there."""

    __tablename__ = "exchange_accounts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    venue: Mapped[str] = mapped_column(String(32), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    api_key_sealed: Mapped[str | None] = mapped_column(Text)
    api_secret_sealed: Mapped[str | None] = mapped_column(Text)
    key_hint: Mapped[str | None] = mapped_column(String(16))  # last characters of the key
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))
