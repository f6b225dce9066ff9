"""The payer flow as the web tier sees it: read a code, quote, pay, follow.

Shared by the REST API (``webapp/api/*_routes.py``) and the PWA pages
(``webapp/pay/views.py``), so both answer the same way. Domain rules live
in ``wallet/`` (:mod:`wallet.payments.intake`, :mod:`wallet.quotes`); this
module only orders the calls around short transactions: on SQLite every
transaction takes the write lock, so pricing (HTTP to the venues) happens
before the transaction that stores the quote, and settlement is kicked
after the payment's transaction has committed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from wallet.assets import get_asset
from wallet.compliance.config import TaxConfig
from wallet.compliance.tds import tds_for
from wallet.db.atomic import all_or_nothing
from wallet.db.base import utcnow
from wallet.db.models.chain import Credit
from wallet.db.models.payments import Payment, PaymentEvent, PaymentSource, Quote
from wallet.db.models.settlement import Payout
from wallet.db.models.users import User
from wallet.errors import WalletError
from wallet.money import format_minor
from wallet.payments.intake import SANCTIONS_HIT, create_quote, open_payment_for_quote
from wallet.payments.states import PaymentStatus
from wallet.quotes import QuoteCalculation, QuoteRequest
from wallet.risk import RiskConfig
from wallet.upi import MerchantLinkRef, UpiError, parse_amount_paise, parse_payment_code
from webapp.extensions import after_commit, settings, unit_of_work
from webapp.pay import custody
from webapp.pay.pricing import quote_calculator
from webapp.pay.settle_now import kick_settlement

# Statuses a payer reads as "still moving", "done" and "needs attention" (history filters).
STATUS_GROUPS: dict[str, frozenset[PaymentStatus]] = {
    "active": frozenset(
        {
            PaymentStatus.QUOTE_ISSUED,
            PaymentStatus.AWAITING_FUNDS,
            PaymentStatus.DETECTED,
            PaymentStatus.CONFIRMED,
            PaymentStatus.SETTLING,
        }
    ),
    "paid": frozenset({PaymentStatus.PAID_OUT, PaymentStatus.COMPLETED}),
    "problem": frozenset(
        {
            PaymentStatus.EXPIRED,
            PaymentStatus.UNDERPAID,
            PaymentStatus.OVERPAID,
            PaymentStatus.FAILED,
            PaymentStatus.REORGED,
            PaymentStatus.PAYOUT_REVERSED,
            PaymentStatus.HELD_FOR_REVIEW,
            PaymentStatus.REFUNDED,
        }
    ),
}
VENDOR_PAID = frozenset({PaymentStatus.PAID_OUT, PaymentStatus.COMPLETED})
MAX_PAGE = 100


class MerchantLinkNotFound(WalletError):
    code = "merchant_link_not_found"
    http_status = 404


class AmountFixedByCode(WalletError):
    code = "amount_fixed_by_code"


class InvalidCursor(WalletError):
    code = "invalid_cursor"


@dataclass(frozen=True)
class Payee:
    """Who a code pays and how much it asks (``amount_paise`` None: the payer types it)."""

    vpa: str
    name: str | None
    amount_paise: int | None
    note: str | None = None
    reference: str | None = None
    link_id: str | None = None  # a single-use merchant link: the payment consumes it


MerchantLinkResolver = Callable[[Session, str], Payee | None]


def own_hosts() -> frozenset[str]:
    from webapp.api.codes_routes import own_hosts as hosts

    return hosts()


def resolve_code(code: str) -> Payee:
    """The payee of a scanned or pasted code (UPI URI, BharatQR or merchant link)."""
    parsed = parse_payment_code(
        code, max_paise=settings().max_payment_paise, allowed_hosts=own_hosts()
    )
    if isinstance(parsed, MerchantLinkRef):
        return _merchant_link(parsed.link_id)
    return Payee(parsed.vpa, parsed.payee_name, parsed.amount_paise, parsed.note, parsed.reference)


def _merchant_link(link_id: str) -> Payee:
    # Dynamic-QR links live in the merchant area; until it registers its
    # resolver in app.extensions["merchant_links"], no link resolves.
    resolver: MerchantLinkResolver | None = current_app.extensions.get("merchant_links")
    payee = None
    if resolver is not None:
        with unit_of_work() as db:
            payee = resolver(db, link_id)
    if payee is None:
        raise MerchantLinkNotFound("this payment link does not exist or has expired")
    return replace(payee, link_id=link_id)


def amount_for(payee: Payee, amount_inr: str | None) -> int:
    """Paise to pay: the code's amount, or the payer's (a fixed amount cannot change)."""
    typed = None
    if amount_inr is not None and amount_inr.strip():
        typed = parse_amount_paise(amount_inr, max_paise=settings().max_payment_paise)
    if payee.amount_paise is not None:
        if typed is not None and typed != payee.amount_paise:
            raise AmountFixedByCode(
                f"this code asks for ₹{format_minor(payee.amount_paise, 2)}; "
                "the amount cannot be changed"
            )
        return payee.amount_paise
    if typed is None:
        raise UpiError("this QR has no amount: enter the amount to pay", code="amount_required")
    return typed


def new_quote(user_id: int, payee: Payee, amount_paise: int, asset: str) -> Quote:
    """Price and store a quote; the price is fetched before the write transaction."""
    get_asset(asset)
    tds = quote_tds(user_id, amount_paise)
    request = QuoteRequest(amount_paise, asset, payee.vpa, tds_paise=tds)
    calculation = quote_calculator()(request)

    def priced(asked: QuoteRequest) -> QuoteCalculation:
        # create_quote asks for exactly the request priced above.
        return calculation if asked == request else quote_calculator()(asked)

    with unit_of_work() as db:
        quote = create_quote(
            db,
            user_id,
            asset=asset,
            calculate=priced,
            payee_vpa=payee.vpa,
            amount_paise=amount_paise,
            payee_name=payee.name,
            merchant_link_id=payee.link_id,
            tds_paise=tds,
        )
        db.flush()
        db.expunge(quote)
    return quote


def get_quote(user_id: int, quote_id: str) -> Quote | None:
    with unit_of_work() as db:
        quote = db.get(Quote, quote_id)
        if quote is None or quote.user_id != user_id:
            return None
        db.expunge(quote)
    return quote


def risk_config() -> RiskConfig:
    """The risk knobs (``app.extensions["risk_config"]`` overrides the settings)."""
    config: RiskConfig | None = current_app.extensions.get("risk_config")
    return config if config is not None else RiskConfig.from_settings(settings())


def tax_config() -> TaxConfig:
    """The tax knobs (``app.extensions["tax_config"]`` overrides the settings)."""
    config: TaxConfig | None = current_app.extensions.get("tax_config")
    return config if config is not None else TaxConfig.from_settings(settings())


def quote_tds(user_id: int, amount_paise: int) -> int | None:
    """The Section 194S TDS this payer would bear on ``amount_paise`` now (for the quote).

    ``None`` for an amount the quote will refuse anyway (pricing says why).
    """
    if isinstance(amount_paise, bool) or not isinstance(amount_paise, int) or amount_paise <= 0:
        return None
    with unit_of_work() as db:
        user = db.get(User, user_id)
        if user is None:
            return None
        return tds_for(db, user, amount_paise, utcnow(), config=tax_config()).tds_paise


class SanctionsRefused(WalletError):
    """The payee or counterparty is on the sanctions list: refused, a review case raised."""

    code = SANCTIONS_HIT
    http_status = 403


def pay(
    user_id: int, quote_id: str, source: str, *, device_id: str | None = None
) -> tuple[str, bool]:
    """Open the payment for a quote; ``(payment id, created now)``.

    :func:`pay_with_detail` without the detail; see there.
    """
    detail, created = pay_with_detail(user_id, quote_id, source, device_id=device_id)
    return detail.payment.id, created


def pay_with_detail(
    user_id: int, quote_id: str, source: str, *, device_id: str | None = None
) -> tuple[PaymentDetail, bool]:
    """Open the payment for a quote; ``(its detail, created now)``.

    An expired quote is refused inside :func:`create_payment` before any
    hold is placed. A new custodial payment is confirmed at once, so its
    settlement run is requested right after the commit (best effort).
    Risk: a decline raises ``payment_declined``-family codes (nothing
    kept); a sanctions hit commits the failed payment and its review case,
    then raises ``sanctions_hit``. ``device_id`` (the browser's cookie or the
    API's ``X-Device-Id``) counts the payment against per-device limits.

    A new payment's detail is built from the rows this transaction wrote
    (it has no payout or credit yet), not read back; an existing one (a
    retry) is read as :func:`payment_detail` reads it.
    """
    src = PaymentSource(source)
    with unit_of_work() as db:
        # Any error below rolls the whole transaction back, so the hold, the
        # payment and its moves need no savepoints of their own.
        all_or_nothing(db)
        opened = open_payment_for_quote(
            db,
            user_id,
            quote_id,
            src,
            assign_deposit=custody.assign_deposit if src is PaymentSource.EXTERNAL else None,
            device_id=device_id,
            risk_config=risk_config(),
        )
        payment = opened.payment
        status, reason = payment.status, payment.status_reason or ""
    if status is PaymentStatus.FAILED and reason.startswith(SANCTIONS_HIT):
        # After the commit: the failed payment and its review case are kept.
        raise SanctionsRefused("this payment cannot be made: it is held for compliance review")
    if not opened.created:
        detail = payment_detail(user_id, payment.id)
        if detail is None:  # pragma: no cover - it was just read under the quote's lock
            raise WalletError(f"payment {payment.id} vanished", code="not_found")
        return detail, False
    if status is PaymentStatus.CONFIRMED:
        paid = payment.id
        after_commit(lambda: kick_settlement(paid))
    return PaymentDetail(payment, opened.quote, list(opened.timeline), None, []), True


@dataclass(frozen=True)
class PaymentDetail:
    """Everything the status page, the receipt and ``GET /payments/{id}`` show."""

    payment: Payment
    quote: Quote
    events: list[PaymentEvent]
    payout: Payout | None
    credits: list[Credit]

    @property
    def vendor_paid(self) -> bool:
        return self.payment.status in VENDOR_PAID


def payment_detail(user_id: int, payment_id: str) -> PaymentDetail | None:
    """The caller's own payment, or None (another user's payment does not exist for them)."""
    with unit_of_work() as db:
        payment = db.get(Payment, payment_id)
        if payment is None or payment.user_id != user_id:
            return None
        quote = db.get_one(Quote, payment.quote_id)
        events = list(
            db.scalars(
                select(PaymentEvent)
                .where(PaymentEvent.payment_id == payment_id)
                .order_by(PaymentEvent.version, PaymentEvent.id)
            )
        )
        payout = db.scalars(
            select(Payout)
            .where(Payout.payment_id == payment_id)
            .order_by(Payout.created_at.desc(), Payout.id.desc())
        ).first()
        credits = list(db.scalars(select(Credit).where(Credit.payment_id == payment_id)))
        db.expunge_all()
    return PaymentDetail(payment, quote, events, payout, credits)


def encode_cursor(created_at: datetime, payment_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), payment_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, pid = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(at), str(pid)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidCursor("the cursor is not one this API gave out") from None


def list_payments(
    user_id: int,
    *,
    limit: int = 20,
    cursor: str | None = None,
    status: str | None = None,
    asset: str | None = None,
) -> tuple[list[Payment], str | None]:
    """The caller's payments, newest first, keyset-paginated; the next cursor or None."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Payment).where(Payment.user_id == user_id)
    if status:
        if status in STATUS_GROUPS:
            query = query.where(Payment.status.in_(sorted(STATUS_GROUPS[status])))
        else:
            try:
                query = query.where(Payment.status == PaymentStatus(status))
            except ValueError:
                raise WalletError(
                    f"unknown status filter {status!r}", code="invalid_filter"
                ) from None
    if asset:
        query = query.where(Payment.asset == get_asset(asset).symbol)
    if cursor:
        at, pid = decode_cursor(cursor)
        query = query.where(
            or_(Payment.created_at < at, and_(Payment.created_at == at, Payment.id < pid))
        )
    query = query.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit + 1)
    with unit_of_work() as db:
        rows = list(db.scalars(query))
        db.expunge_all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return rows, next_cursor


def recent_events(user_id: int, limit: int = 20) -> list[tuple[PaymentEvent, Payment]]:
    """The latest steps of the caller's payments (the in-app notices)."""
    with unit_of_work() as db:
        rows = [
            (event, payment)
            for event, payment in db.execute(
                select(PaymentEvent, Payment)
                .join(Payment, Payment.id == PaymentEvent.payment_id)
                .where(Payment.user_id == user_id)
                .order_by(PaymentEvent.at.desc(), PaymentEvent.id.desc())
                .limit(limit)
            )
        ]
        db.expunge_all()
    return rows


def seconds_left(quote: Quote, now: datetime | None = None) -> int:
    """Whole seconds until the quote expires (0 when it has)."""
    delta = quote.expires_at - (now or utcnow())
    return max(0, int(delta.total_seconds()))
