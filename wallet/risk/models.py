"""Tables of the risk engine: limit counters and reservations, assessments,
the admin review queue and KYC profiles. Migration:
``migrations/versions/0006_risk.py``.

Amounts here are INR paise in ``BIGINT`` (not ``MinorUnits``): counters are
updated with ``used_paise + :amount <= :limit`` in SQL, which needs a real
integer column on SQLite too, and ₹9.2 × 10¹⁶ is enough for any INR sum.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

import wallet.db.models  # noqa: F401 - users and payments, which these tables reference
from wallet.db.base import Base, UTCDateTime, utcnow
from wallet.db.models._types import IdType, JsonType, enum_type, json_default


class RiskDecisionKind(enum.StrEnum):
    APPROVE = "approve"
    HOLD_FOR_REVIEW = "hold_for_review"
    DECLINE = "decline"


class ReservationStatus(enum.StrEnum):
    RESERVED = "reserved"  # counted against the limits
    RELEASED = "released"  # the payment failed before funds moved: counts given back


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class KycStatus(enum.StrEnum):
    SUBMITTED = "submitted"  # PAN, name, DOB given: tier 1
    APPROVED = "approved"  # an admin reviewed the full KYC
    REJECTED = "rejected"


class LimitCounter(Base):
    """Usage of one limit in one fixed window: e.g. (user, "42", day, 2026-11-27T18:30Z).

    Rows are only ever changed by one conditional ``UPDATE`` per
    reservation (see :mod:`wallet.risk.limits`), never read-modify-written.
    """

    __tablename__ = "risk_counters"
    __table_args__ = (
        CheckConstraint("used_count >= 0", name="used_count_non_negative"),
        CheckConstraint("used_paise >= 0", name="used_paise_non_negative"),
    )

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # user|device|payee|...
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)  # hour|day
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    used_count: Mapped[int] = mapped_column(default=0)
    used_paise: Mapped[int] = mapped_column(BigInteger, default=0)


class LimitReservation(Base):
    """What one payment or withdrawal took from the counters, so it can give it back.

    ``ref`` is our own id of the intent (``payment:<uuid>``,
    ``withdrawal:<key>``): reserving twice under one ref reserves once.
    ``counters`` lists the rows touched as ``[scope, key, period, window_start]``.
    """

    __tablename__ = "risk_reservations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ref: Mapped[str] = mapped_column(String(120), unique=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    amount_paise: Mapped[int] = mapped_column(BigInteger)
    counters: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    status: Mapped[ReservationStatus] = mapped_column(
        enum_type(ReservationStatus, "reservation_status"), default=ReservationStatus.RESERVED
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentRisk(Base):
    """The score, decision and reasons of one payment's assessment (one per payment)."""

    __tablename__ = "payment_risk"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(36), ForeignKey("payments.id"), unique=True)
    score: Mapped[int]
    decision: Mapped[RiskDecisionKind] = mapped_column(enum_type(RiskDecisionKind, "risk_decision"))
    reasons: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewCase(Base):
    """One item of the admin review queue: an AML flag or a sanctions hit.

    ``subject`` names who or what is suspicious (``user:42``,
    ``vpa:x@bank``); at most one case per (kind, subject) is open at a
    time, and later payments join it (``payment_ids``) instead of piling up.
    """

    __tablename__ = "review_cases"
    __table_args__ = (
        Index(
            "uq_review_cases_open",
            "kind",
            "subject",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(300))
    payment_ids: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=json_default)
    status: Mapped[CaseStatus] = mapped_column(
        enum_type(CaseStatus, "case_status"), default=CaseStatus.OPEN, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(200))  # e.g. admin:3
    resolution: Mapped[str | None] = mapped_column(Text)


class KycProfile(Base):
    """A user's identity details. The PAN is unique: one PAN, one account.

    The PAN is personal data: it leaves this table only for the TDS return
    and is masked everywhere else (audit rows, logs).
    """

    __tablename__ = "kyc_profiles"

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), primary_key=True)
    pan: Mapped[str] = mapped_column(String(10), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date] = mapped_column(Date)
    status: Mapped[KycStatus] = mapped_column(
        enum_type(KycStatus, "kyc_status"), default=KycStatus.SUBMITTED
    )
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
