"""Operational tables: idempotency keys, the audit log and the outbox."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, UTCDateTime, utcnow
from wallet.db.claims import Claimable
from wallet.db.models._types import IdType, JsonType, enum_type, json_default


class IdempotencyKey(Base):
    """An API ``Idempotency-Key`` and the response first given for it.

    ``response_status`` is empty while the first request is still running.
    See :mod:`wallet.idempotency`.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex
    response_status: Mapped[int | None]
    response_body: Mapped[Any | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLog(Base):
    """Who did what to which object (append-only; see :mod:`wallet.audit`)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))  # e.g. user:5, system:settlement
    action: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=json_default)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"  # gave up after the retry budget; an operator replays it


class OutboxMessage(Claimable, Base):
    """A webhook or notification written in the same transaction as its cause.

    ``key`` is derived from our ids (e.g. ``payment:<id>:paid_out``) so a
    re-run cause enqueues nothing new.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=json_default)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_type(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkerHeartbeat(Base):
    """The latest beat of one of our long-lived loops (see :mod:`wallet.observability.heartbeats`).

    One row per loop name, overwritten in place: the monitoring sensor
    alerts when a loop that should run has not beaten for a while.
    """

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)
