"""Read models over payments: lists with filters, a detail with its timeline,
CSV export and the soundbox feed.

``merchant_id=None`` means every payment (the admin panel); a merchant's
view always passes its own id, so another merchant's payment is "not found".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from wallet.assets import get_asset
from wallet.db.models.chain import ChainObservation, Credit
from wallet.db.models.ledger import JournalEntry, LedgerAccount, Posting
from wallet.db.models.payments import Payment, PaymentEvent
from wallet.db.models.settlement import ExchangeOrder, Payout, Settlement, SettlementAttempt
from wallet.merchants.errors import InvalidInput, MerchantNotFound
from wallet.merchants.models import PaymentLink
from wallet.money import format_minor
from wallet.payments.states import PaymentStatus

IST = timezone(timedelta(hours=5, minutes=30), "IST")
MAX_PAGE = 200
MAX_EXPORT = 10_000


@dataclass(frozen=True)
class PaymentFilters:
    """Dashboard filters; dates are IST calendar days, inclusive."""

    status: PaymentStatus | None = None
    asset: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None

    @classmethod
    def parse(cls, args: dict[str, Any] | Any) -> PaymentFilters:
        """From query parameters; a bad value is a ``validation_error``."""

        def text(name: str) -> str | None:
            value = args.get(name)
            return value.strip() if isinstance(value, str) and value.strip() else None

        raw_status = text("status")
        try:
            status = PaymentStatus(raw_status) if raw_status else None
        except ValueError:
            raise InvalidInput(f"unknown status {raw_status!r}") from None
        asset = text("asset")
        if asset is not None:
            asset = asset.upper()
            try:
                get_asset(asset)
            except Exception:
                raise InvalidInput(f"unknown asset {asset!r}") from None
        days = []
        for name in ("from", "to"):
            raw = text(name)
            try:
                days.append(date.fromisoformat(raw) if raw else None)
            except ValueError:
                raise InvalidInput(f"{name} must be a date like 2026-01-31") from None
        q = text("q")
        if q is not None and len(q) > 100:
            raise InvalidInput("the search is at most 100 characters")
        return cls(status=status, asset=asset, date_from=days[0], date_to=days[1], q=q)

    def as_args(self) -> dict[str, str]:
        out = {
            "status": self.status.value if self.status else "",
            "asset": self.asset or "",
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "q": self.q or "",
        }
        return {k: v for k, v in out.items() if v}


def ist_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=IST)


def _filtered(merchant_id: int | None, filters: PaymentFilters) -> Select[Payment]:
    query = select(Payment)
    if merchant_id is not None:
        query = query.where(Payment.merchant_id == merchant_id)
    if filters.status is not None:
        query = query.where(Payment.status == filters.status)
    if filters.asset is not None:
        query = query.where(Payment.asset == filters.asset)
    if filters.date_from is not None:
        query = query.where(Payment.created_at >= ist_day_start(filters.date_from))
    if filters.date_to is not None:
        query = query.where(Payment.created_at < ist_day_start(filters.date_to + timedelta(days=1)))
    if filters.q:
        needle = filters.q.lower()
        utr_match = select(Payout.payment_id).where(Payout.utr == filters.q)
        query = query.where(
            or_(
                Payment.id.startswith(needle),
                Payment.payee_vpa.contains(needle),
                Payment.payee_name.ilike(f"%{needle}%"),
                Payment.id.in_(utr_match),
            )
        )
    return query


def list_payments(
    session: Session,
    merchant_id: int | None,
    filters: PaymentFilters,
    *,
    limit: int = 50,
    offset: int = 0,
) -> list[Payment]:
    """Newest first."""
    limit = max(1, min(limit, MAX_PAGE))
    return list(
        session.scalars(
            _filtered(merchant_id, filters)
            .order_by(Payment.created_at.desc(), Payment.id)
            .limit(limit)
            .offset(max(0, offset))
        )
    )


@dataclass
class PaymentDetail:
    """Everything known about one payment, oldest first in each list."""

    payment: Payment
    events: list[PaymentEvent]
    payouts: list[Payout]
    settlement: Settlement | None = None
    attempts: list[SettlementAttempt] = field(default_factory=list)
    observations: list[ChainObservation] = field(default_factory=list)
    credits: list[Credit] = field(default_factory=list)
    postings: list[tuple[JournalEntry, Posting, str]] = field(default_factory=list)
    orders: list[ExchangeOrder] = field(default_factory=list)
    link: PaymentLink | None = None

    @property
    def latest_payout(self) -> Payout | None:
        return self.payouts[-1] if self.payouts else None


def get_payment(session: Session, payment_id: str, merchant_id: int | None) -> Payment:
    payment = session.get(Payment, payment_id) if isinstance(payment_id, str) else None
    if payment is None or (merchant_id is not None and payment.merchant_id != merchant_id):
        raise MerchantNotFound("no such payment")
    return payment


def payouts_for(session: Session, payment_ids: Sequence[str]) -> dict[str, Payout]:
    """The latest payout of each payment (for settlement status columns)."""
    latest: dict[str, Payout] = {}
    if not payment_ids:
        return latest
    for payout in session.scalars(
        select(Payout).where(Payout.payment_id.in_(list(payment_ids))).order_by(Payout.id)
    ):
        latest[payout.payment_id] = payout
    return latest


def payment_detail(
    session: Session, payment_id: str, merchant_id: int | None, *, full: bool = False
) -> PaymentDetail:
    """The merchant's view (timeline, payouts), or with ``full`` the operator's."""
    payment = get_payment(session, payment_id, merchant_id)
    events = list(
        session.scalars(
            select(PaymentEvent)
            .where(PaymentEvent.payment_id == payment.id)
            .order_by(PaymentEvent.id)
        )
    )
    payouts = list(
        session.scalars(select(Payout).where(Payout.payment_id == payment.id).order_by(Payout.id))
    )
    detail = PaymentDetail(payment, events, payouts)
    detail.link = session.scalars(
        select(PaymentLink).where(PaymentLink.payment_id == payment.id)
    ).first()
    detail.settlement = session.scalars(
        select(Settlement).where(Settlement.payment_id == payment.id)
    ).first()
    if not full:
        return detail
    if detail.settlement is not None:
        detail.attempts = list(
            session.scalars(
                select(SettlementAttempt)
                .where(SettlementAttempt.settlement_id == detail.settlement.id)
                .order_by(SettlementAttempt.attempt_no)
            )
        )
    attempt_ids = [a.id for a in detail.attempts]
    if attempt_ids:
        detail.orders = list(
            session.scalars(
                select(ExchangeOrder)
                .where(ExchangeOrder.attempt_id.in_(attempt_ids))
                .order_by(ExchangeOrder.id)
            )
        )
    detail.credits = list(
        session.scalars(select(Credit).where(Credit.payment_id == payment.id).order_by(Credit.id))
    )
    if payment.deposit_address:
        detail.observations = list(
            session.scalars(
                select(ChainObservation)
                .where(ChainObservation.address == payment.deposit_address)
                .order_by(ChainObservation.id)
            )
        )
    detail.postings = _postings(session, payment, [p.idempotency_key for p in payouts])
    return detail


def _postings(
    session: Session, payment: Payment, payout_keys: Iterable[str]
) -> list[tuple[JournalEntry, Posting, str]]:
    """Ledger postings of entries that name this payment (by ref) or its payouts."""
    refs = [payment.id, *payout_keys]
    conditions = [JournalEntry.ref.in_(refs)] + [
        JournalEntry.ref.startswith(ref + ":") for ref in refs
    ]
    conditions.append(JournalEntry.ref == f"payment:{payment.id}")
    rows = session.execute(
        select(JournalEntry, Posting, LedgerAccount.code)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(or_(*conditions))
        .order_by(JournalEntry.id, Posting.id)
    ).all()
    return [(entry, posting, code) for entry, posting, code in rows]


# --- CSV export ------------------------------------------------------------------

CSV_COLUMNS = (
    "payment_id",
    "created_at_ist",
    "status",
    "amount_inr",
    "asset",
    "amount_crypto",
    "payee_vpa",
    "payout_status",
    "utr",
)


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ is a formula in spreadsheets (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(session: Session, merchant_id: int | None, filters: PaymentFilters) -> str:
    """The filtered payments as CSV (amounts as exact decimals, times in IST)."""
    payments = list(
        session.scalars(
            _filtered(merchant_id, filters)
            .order_by(Payment.created_at.desc(), Payment.id)
            .limit(MAX_EXPORT)
        )
    )
    latest = payouts_for(session, [p.id for p in payments])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in payments:
        payout = latest.get(p.id)
        writer.writerow(
            [
                _safe_cell(str(v))
                for v in (
                    p.id,
                    p.created_at.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S"),
                    p.status.value,
                    format_minor(p.amount_inr_paise, 2),
                    p.asset,
                    format_minor(p.amount_minor, get_asset(p.asset).decimals, trim=True),
                    p.payee_vpa,
                    payout.status.value if payout else "",
                    (payout.utr or "") if payout else "",
                )
            ]
        )
    return out.getvalue()


# --- soundbox ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Announcement:
    event_id: int
    payment_id: str
    amount_paise: int
    at: datetime


def _arrival(event: PaymentEvent) -> bool:
    if event.to_status is PaymentStatus.CONFIRMED:
        return True
    return event.to_status is PaymentStatus.SETTLING and event.from_status is PaymentStatus.DETECTED


def latest_event_id(session: Session, merchant_id: int) -> int:
    value = session.scalar(
        select(PaymentEvent.id)
        .join(Payment, Payment.id == PaymentEvent.payment_id)
        .where(Payment.merchant_id == merchant_id)
        .order_by(PaymentEvent.id.desc())
        .limit(1)
    )
    return int(value or 0)


def announcements(
    session: Session, merchant_id: int, after_id: int, *, limit: int = 20
) -> list[Announcement]:
    """Payments that arrived (confirmed, or custodial settling) after event ``after_id``.

    Each payment is announced once, at its first arrival: a re-confirmation
    after a reorg is not money arriving again.
    """
    rows = session.execute(
        select(PaymentEvent, Payment)
        .join(Payment, Payment.id == PaymentEvent.payment_id)
        .where(Payment.merchant_id == merchant_id, PaymentEvent.id > after_id)
        .order_by(PaymentEvent.id)
        .limit(limit * 5)
    ).all()
    out: list[Announcement] = []
    for event, payment in rows:
        if not _arrival(event):
            continue
        earlier = session.scalars(
            select(PaymentEvent).where(
                PaymentEvent.payment_id == payment.id, PaymentEvent.id < event.id
            )
        ).all()
        if any(_arrival(e) for e in earlier):
            continue
        out.append(Announcement(event.id, payment.id, payment.amount_inr_paise, event.at))
        if len(out) >= limit:
            break
    return out
