"""Tables of compliance: the sanctions list, TDS records and GST invoices.
Migration: ``migrations/versions/0006_risk.py``.

Amounts are INR paise in ``BIGINT`` (integer arithmetic in SQL on both
backends; far more than any INR sum needs).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import wallet.db.models  # noqa: F401 - users and payments, which these tables reference
from wallet.db.base import Base, UTCDateTime, utcnow
from wallet.db.models._types import IdType


class SanctionsEntry(Base):
    """One listed address or VPA, stored in its normalised form.

    ``kind`` is ``address`` or ``vpa``; ``chain`` is a chain name or empty
    for "any chain" (and always empty for a VPA). A delisted entry keeps
    its row with ``removed_at`` set, so the history of the list survives.
    """

    __tablename__ = "sanctions_entries"
    __table_args__ = (
        UniqueConstraint("kind", "chain", "value"),
        Index(None, "value"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    chain: Mapped[str] = mapped_column(String(32), default="")
    value: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(200))
    listed_at: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TdsRecord(Base):
    """Section 194S TDS on one payment (a transfer of a virtual digital asset).

    One row per payment, also when nothing was deducted (below the annual
    threshold): the rows are what the threshold aggregates over.
    ``financial_year`` is like ``2025-26`` (April to March, IST).
    """

    __tablename__ = "tds_records"
    __table_args__ = (Index(None, "user_id", "financial_year"), Index(None, "deducted_at"))

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(36), ForeignKey("payments.id"), unique=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    pan: Mapped[str | None] = mapped_column(String(10))
    financial_year: Mapped[str] = mapped_column(String(7))
    consideration_paise: Mapped[int] = mapped_column(BigInteger)
    aggregate_before_paise: Mapped[int] = mapped_column(BigInteger)
    threshold_paise: Mapped[int] = mapped_column(BigInteger)
    rate_bps: Mapped[int]
    tds_paise: Mapped[int] = mapped_column(BigInteger)
    basis: Mapped[str] = mapped_column(String(32))  # deducted | below_threshold | no_pan
    deducted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InvoiceCounter(Base):
    """The last invoice number used in one series and financial year.

    Locked ``FOR UPDATE`` while a number is taken, in the same transaction
    as the invoice row: a rollback gives the number back, so the series
    has no gaps (CGST Rules, rule 46: consecutive serial numbers per FY).
    """

    __tablename__ = "invoice_counters"

    series: Mapped[str] = mapped_column(String(8), primary_key=True)
    financial_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)


class GstInvoice(Base):
    """A tax invoice for the platform fee of one payment (18 % GST by default)."""

    __tablename__ = "gst_invoices"
    __table_args__ = (UniqueConstraint("series", "financial_year", "seq"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)  # rule 46: <= 16 chars
    series: Mapped[str] = mapped_column(String(8))
    financial_year: Mapped[str] = mapped_column(String(7))
    seq: Mapped[int]
    payment_id: Mapped[str] = mapped_column(String(36), ForeignKey("payments.id"), unique=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    supplier_name: Mapped[str] = mapped_column(String(200))
    supplier_gstin: Mapped[str] = mapped_column(String(15))
    supplier_address: Mapped[str] = mapped_column(Text)
    supplier_state_code: Mapped[str] = mapped_column(String(2))
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_email: Mapped[str] = mapped_column(String(320))
    place_of_supply: Mapped[str] = mapped_column(String(2))  # state code
    sac_code: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(String(200))
    fee_paise: Mapped[int] = mapped_column(BigInteger)  # what the payer was charged
    taxable_paise: Mapped[int] = mapped_column(BigInteger)
    gst_rate_bps: Mapped[int]
    cgst_paise: Mapped[int] = mapped_column(BigInteger)
    sgst_paise: Mapped[int] = mapped_column(BigInteger)
    igst_paise: Mapped[int] = mapped_column(BigInteger)
