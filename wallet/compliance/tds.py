"""Section 194S TDS on each payment: the payer transfers crypto (a virtual
digital asset) to the platform, and the platform, paying the consideration,
deducts tax at source.

Simplifications, on purpose (see :mod:`wallet.compliance.config` for the law):

- The consideration is the INR amount the caller passes (the quote passes
  the vendor amount it prices the crypto for).
- The annual threshold counts consideration per payer per financial year
  from ``tds_records`` (every payment gets a row, taxed or not). The payment
  that takes the total past the threshold is taxed on its whole amount, and
  so is every later one; earlier payments are not taxed retroactively.
- No PAN on file: the section 206AA rate (20 %). Section 206AB (non-filers)
  is not modelled.
- TDS is rounded UP to the paisa (never under-deduct); the return rounds
  to rupees when filed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, case, func, insert, select
from sqlalchemy.orm import Session

from wallet.compliance.config import TaxConfig
from wallet.compliance.models import TdsRecord
from wallet.compliance.periods import (
    financial_year,
    financial_year_bounds,
    month_bounds,
    tds_due_date,
)
from wallet.db.models import User
from wallet.db.rows import adopt, table_of
from wallet.errors import InvalidAmount
from wallet.money import Rounding, divide
from wallet.risk.models import KycProfile

BPS = 10_000


@dataclass(frozen=True)
class TdsComputation:
    """TDS on one consideration, and why (``basis``)."""

    consideration_paise: int
    tds_paise: int
    rate_bps: int
    threshold_paise: int
    aggregate_before_paise: int
    financial_year: str
    basis: str  # deducted | no_pan | below_threshold
    pan: str | None


def compute_tds(
    consideration_paise: int,
    *,
    aggregate_before_paise: int,
    pan: str | None,
    fy: str,
    config: TaxConfig,
) -> TdsComputation:
    """The pure rule: thresholds, rates and rounding (no database)."""
    if isinstance(consideration_paise, bool) or not isinstance(consideration_paise, int):
        raise InvalidAmount("the consideration must be integer paise")
    if consideration_paise <= 0:
        raise InvalidAmount("the consideration must be positive")
    threshold = config.tds_threshold_paise
    if aggregate_before_paise + consideration_paise <= threshold:
        rate, basis = 0, "below_threshold"
    elif pan:
        rate, basis = config.tds_bps, "deducted"
    else:
        rate, basis = config.tds_no_pan_bps, "no_pan"
    tds = divide(consideration_paise * rate, BPS, Rounding.UP)
    return TdsComputation(
        consideration_paise, tds, rate, threshold, aggregate_before_paise, fy, basis, pan
    )


def _aggregate_and_pan(session: Session, user_id: int, fy: str) -> tuple[int, str | None]:
    """The payer's consideration so far in ``fy`` and their PAN, in one read."""
    row = session.execute(_aggregate_and_pan_query(), {"user_id": user_id, "fy": fy}).one()
    return int(row[0] or 0), row[1]


@cache
def _aggregate_and_pan_query() -> Select[int, str | None]:
    """Built once: every quote and every payment reads it."""
    user_id = bindparam("user_id", type_=TdsRecord.user_id.type)
    pan = select(KycProfile.pan).where(KycProfile.user_id == user_id).scalar_subquery()
    return select(func.coalesce(func.sum(TdsRecord.consideration_paise), 0), pan).where(
        TdsRecord.user_id == user_id, TdsRecord.financial_year == bindparam("fy")
    )


def tds_for(
    session: Session,
    user: User,
    amount_inr_paise: int,
    now: datetime,
    *,
    config: TaxConfig | None = None,
) -> TdsComputation:
    """The TDS a payment of ``amount_inr_paise`` would bear now (for the quote breakdown).

    Reads only; :func:`record_tds` fixes the amount when the payment is made.
    """
    fy = financial_year(now)
    aggregate, pan = _aggregate_and_pan(session, user.id, fy)
    return compute_tds(
        amount_inr_paise,
        aggregate_before_paise=aggregate,
        pan=pan,
        fy=fy,
        config=config or TaxConfig(),
    )


def record_tds(
    session: Session,
    *,
    payment_id: str,
    user: User,
    consideration_paise: int,
    now: datetime,
    config: TaxConfig | None = None,
    payer_locked: bool = False,
    new_payment: bool = False,
) -> TdsRecord:
    """Fix the TDS of one payment (idempotent: a second call returns the first row).

    The user's row is locked first so that two payments of one payer add up
    against the threshold one after the other (and a retry finds the first
    row once it holds the lock). ``payer_locked``: the caller's transaction
    already holds that lock (intake takes it with the quote). ``new_payment``:
    the caller's transaction inserted the payment, so it has no TDS row yet.
    """
    if not payer_locked:
        session.scalars(select(User.id).where(User.id == user.id).with_for_update()).one()
    if not new_payment:
        existing = session.scalar(select(TdsRecord).where(TdsRecord.payment_id == payment_id))
        if existing is not None:
            return existing
    calc = tds_for(session, user, consideration_paise, now, config=config)
    values = session.execute(
        _insert_record(),
        {
            "payment_id": payment_id,
            "user_id": user.id,
            "pan": calc.pan,
            "financial_year": calc.financial_year,
            "consideration_paise": calc.consideration_paise,
            "aggregate_before_paise": calc.aggregate_before_paise,
            "threshold_paise": calc.threshold_paise,
            "rate_bps": calc.rate_bps,
            "tds_paise": calc.tds_paise,
            "basis": calc.basis,
            "deducted_at": now,
        },
    ).one()
    return adopt(session, TdsRecord, values._asdict())


@cache
def _insert_record() -> Any:
    """Built once on the table (every payment records its TDS; see :mod:`wallet.db.rows`)."""
    table = table_of(TdsRecord)
    return insert(table).returning(*table.c)


@dataclass(frozen=True)
class TdsReportRow:
    """One payer's month: what was paid to them and what was withheld."""

    user_id: int
    pan: str | None
    name: str | None
    payments: int
    deductions: int
    consideration_paise: int
    tds_paise: int


@dataclass(frozen=True)
class TdsReport:
    """TDS of one IST calendar month, per payer, with totals and the deposit due date."""

    year: int
    month: int
    financial_year: str
    due_date: date
    rows: tuple[TdsReportRow, ...]

    @property
    def total_consideration_paise(self) -> int:
        return sum(r.consideration_paise for r in self.rows)

    @property
    def total_tds_paise(self) -> int:
        return sum(r.tds_paise for r in self.rows)

    @property
    def payers_without_pan(self) -> int:
        return sum(1 for r in self.rows if r.pan is None and r.tds_paise > 0)


def monthly_tds_report(session: Session, year: int, month: int) -> TdsReport:
    """Every payer with a TDS record in the month (IST), ordered by user id."""
    start, end = month_bounds(year, month)
    deducted = func.sum(case((TdsRecord.tds_paise > 0, 1), else_=0))
    rows = session.execute(
        select(
            TdsRecord.user_id,
            func.max(TdsRecord.pan),
            func.count(TdsRecord.id),
            deducted,
            func.sum(TdsRecord.consideration_paise),
            func.sum(TdsRecord.tds_paise),
        )
        .where(TdsRecord.deducted_at >= start, TdsRecord.deducted_at < end)
        .group_by(TdsRecord.user_id)
        .order_by(TdsRecord.user_id)
    ).all()
    names = dict(
        session.execute(
            select(KycProfile.user_id, KycProfile.full_name).where(
                KycProfile.user_id.in_([r[0] for r in rows])
            )
        ).all()
    )
    return TdsReport(
        year=year,
        month=month,
        financial_year=financial_year(start),
        due_date=tds_due_date(year, month),
        rows=tuple(
            TdsReportRow(
                user_id=int(uid),
                pan=pan,
                name=names.get(uid),
                payments=int(n),
                deductions=int(d or 0),
                consideration_paise=int(c),
                tds_paise=int(t),
            )
            for uid, pan, n, d, c, t in rows
        ),
    )


def fy_total_tds(session: Session, user_id: int, fy: str) -> int:
    """TDS withheld from one payer over a financial year (what their certificate shows)."""
    start, end = financial_year_bounds(fy)
    total = session.scalar(
        select(func.coalesce(func.sum(TdsRecord.tds_paise), 0)).where(
            TdsRecord.user_id == user_id,
            TdsRecord.deducted_at >= start,
            TdsRecord.deducted_at < end,
        )
    )
    return int(total or 0)
