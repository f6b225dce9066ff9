"""Taking a payment in: persist a quote, open a payment against it.

``create_quote`` prices what the payer asked for (through the caller's
quote calculation: :func:`wallet.quotes.quote_from_sources` in production,
:func:`wallet.quotes.make_quote` with fixed inputs in tests) and stores the
locked price. ``create_payment`` opens the payment, refusing an expired
quote before any funds move.

**Custodial rule (pay on first sight).** A custodial payment spends the
payer's platform balance, which was credited only after its deposit met
the confirmation rule of its risk tier. The spend is an internal ledger
hold on that balance, which the payer cannot double-spend or reorg: it is
final the moment it is placed, whatever the amount. So a custodial payment
goes straight through ``awaiting_funds → detected → confirmed`` in the same
transaction as the hold and is ready to settle at once. (If custody later
moves the coins on chain to escrow, that is our own sweep, batched, and
does not gate the vendor's payout.)

**External payments** wait in ``awaiting_funds`` with a deposit address
from the custody layer; the chain sensors move them on.

Idempotency: one payment per quote (``payments.quote_id`` is unique), so
repeating ``create_payment`` for the same quote and source returns the
first payment; the API's ``Idempotency-Key`` replay sits on top of this.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from wallet.assets import get_asset
from wallet.db.base import utcnow
from wallet.db.models.payments import Payment, PaymentEvent, PaymentSource, Quote, QuoteStatus
from wallet.db.models.users import Merchant, MerchantStatus, User, UserStatus
from wallet.errors import InvalidAmount, WalletError
from wallet.ledger import place_hold, user_wallet, void_hold
from wallet.merchants.links import consume_link
from wallet.payments.states import PaymentStatus
from wallet.payments.transitions import Step, TimelineRows, advance, open_payment
from wallet.quotes import QuoteCalculation, QuoteExpired, QuoteRequest
from wallet.risk import (
    RiskConfig,
    RiskDecision,
    RiskDecisionKind,
    assess_payment,
    reserve_payment_limits,
)

QuoteCalculator = Callable[[QuoteRequest], QuoteCalculation]
DepositAssigner = Callable[[Session, Payment], str]


class QuoteNotFound(WalletError):
    code = "quote_not_found"
    http_status = 404


class PaymentConflict(WalletError):
    """The quote already has a payment opened with another source."""

    code = "payment_conflict"
    http_status = 409


class AccountFrozen(WalletError):
    code = "account_frozen"
    http_status = 403


class PaymentDeclined(WalletError):
    """The risk engine refused it; ``code`` is the reason, e.g. ``limit_user_day_amount``."""

    code = "payment_declined"
    http_status = 403


SANCTIONS_HIT = "sanctions_hit"


def hold_ref(payment_id: str) -> str:
    """The ledger hold reserving a custodial payment's crypto."""
    return f"payment:{payment_id}"


def _active_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise WalletError(f"no user {user_id}", code="user_not_found")
    return _refuse_frozen(user)


def _refuse_frozen(user: User) -> User:
    if user.status is UserStatus.FROZEN:
        raise AccountFrozen("this account is frozen: no new payments")
    return user


def create_quote(
    session: Session,
    user_id: int,
    *,
    asset: str,
    calculate: QuoteCalculator,
    payee_vpa: str,
    amount_paise: int | None,
    payee_name: str | None = None,
    merchant_link_id: str | None = None,
    tds_paise: int | None = None,
) -> Quote:
    """Price ``amount_paise`` to ``payee_vpa`` in ``asset`` and store the quote.

    ``merchant_link_id``: the single-use dynamic-QR link the code came from;
    the payment on this quote consumes it (:func:`create_payment`).
    ``tds_paise``: the Section 194S TDS for this payer
    (:func:`wallet.compliance.tds.tds_for`), shown in the fee breakdown.

    ``amount_paise`` comes from the UPI code or, for a static QR, from the
    payer; ``None`` is refused with ``amount_required``. The web tier passes
    the parsed :class:`wallet.upi.UpiPaymentRequest` fields (already validated).
    """
    _active_user(session, user_id)
    if amount_paise is None:
        raise InvalidAmount(
            "this QR has no amount: enter the amount to pay", code="amount_required"
        )
    get_asset(asset)
    calc = calculate(QuoteRequest(amount_paise, asset, payee_vpa, tds_paise=tds_paise))
    record = calc.as_record()
    quote = Quote(
        id=str(uuid.uuid4()),
        user_id=user_id,
        asset=record["asset"],
        amount_minor=record["amount_minor"],
        amount_inr_paise=record["amount_inr_paise"],
        rate=record["rate"],
        fees=record["fees"],
        route=record["route"],
        payee_vpa=payee_vpa,
        payee_name=payee_name,
        merchant_link_id=merchant_link_id,
        status=QuoteStatus.ISSUED,
        expires_at=record["expires_at"],
        created_at=record["created_at"],
    )
    session.add(quote)
    session.flush()
    return quote


@cache
def _quote_and_payer() -> Select[Quote, User, int | None]:
    """Built once (its construction cost more than its round trip)."""
    merchant_id = (
        select(Merchant.id)
        .where(
            Merchant.upi_vpa == func.lower(Quote.payee_vpa),
            Merchant.status == MerchantStatus.ACTIVE,
        )
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(Quote, User, merchant_id)
        .join(User, User.id == Quote.user_id)
        .where(Quote.id == bindparam("quote_id"), Quote.user_id == bindparam("user_id"))
        .with_for_update(of=[Quote.__table__, User.__table__])
        .execution_options(populate_existing=True)
    )


def _lock_quote_and_payer(
    session: Session, quote_id: str, user_id: int
) -> tuple[Quote, User, int | None]:
    """The quote and its payer, both locked, with the payee's active merchant: one read.

    The payer's row is locked for the rest of the transaction: a freeze
    lands before this payment (refused here) or after it commits, and the
    payment's TDS (:func:`wallet.compliance.tds.record_tds`) adds up
    against the payer's other payments under this same lock. Another
    user's quote does not exist for you (``quote_not_found``).
    """
    row = session.execute(
        _quote_and_payer(), {"quote_id": quote_id, "user_id": user_id}
    ).one_or_none()
    if row is None:
        _active_user(session, user_id)  # a missing or frozen payer says so first
        raise QuoteNotFound(f"no quote {quote_id!r}")
    quote, user, merchant = row
    return quote, _refuse_frozen(user), merchant


@dataclass
class OpenedPayment:
    """What :func:`open_payment_for_quote` did: enough to answer without reading back.

    ``created`` is False when the quote already had this payment (a
    retry); ``timeline`` then is empty, and the caller reads the stored one.
    """

    payment: Payment
    quote: Quote
    created: bool
    timeline: list[PaymentEvent] = field(default_factory=list)


def create_payment(
    session: Session,
    user_id: int,
    quote_id: str,
    source: PaymentSource | str,
    *,
    now: datetime | None = None,
    assign_deposit: DepositAssigner | None = None,
    actor: str | None = None,
    device_id: str | None = None,
    risk_config: RiskConfig | None = None,
) -> Payment:
    """Open the payment for a quote, in the caller's transaction.

    :func:`open_payment_for_quote` with only the payment returned; see there.
    """
    return open_payment_for_quote(
        session,
        user_id,
        quote_id,
        source,
        now=now,
        assign_deposit=assign_deposit,
        actor=actor,
        device_id=device_id,
        risk_config=risk_config,
    ).payment


def open_payment_for_quote(
    session: Session,
    user_id: int,
    quote_id: str,
    source: PaymentSource | str,
    *,
    now: datetime | None = None,
    assign_deposit: DepositAssigner | None = None,
    actor: str | None = None,
    device_id: str | None = None,
    risk_config: RiskConfig | None = None,
) -> OpenedPayment:
    """Open the payment for a quote, in the caller's transaction.

    Raises ``quote_not_found``, ``quote_expired`` (nothing moved),
    ``insufficient_funds`` (custodial, nothing held), ``payment_conflict``,
    ``link_unavailable`` (the quote's dynamic-QR link was already paid).
    ``assign_deposit`` gives an external payment its deposit address (the
    custody layer's allocator); without it the address stays empty until
    custody assigns one.

    Risk (:func:`wallet.risk.assess_payment`, after the payment row exists
    so the decision and limit reservation are keyed by its id): a decline
    raises :class:`PaymentDeclined` with the reason as code (the caller's
    rollback keeps nothing); a sanctions hit returns the payment ``failed``
    with reason ``sanctions_hit`` and a review case raised, nothing held
    (the state machine has no edge from before-funds states to
    ``held_for_review``, and no funds exist to hold: the caller reports
    ``sanctions_hit`` after committing so the case survives); an AML hold
    moves a custodial payment on to ``held_for_review`` instead of settling.
    """
    src = PaymentSource(source)
    now = now or utcnow()
    actor = actor or f"user:{user_id}"
    quote, user, merchant_id = _lock_quote_and_payer(session, quote_id, user_id)
    if quote.status is not QuoteStatus.ISSUED:
        # Only an accepted quote has a payment: it was accepted in the
        # transaction that inserted it (and payments.quote_id is unique).
        existing = session.scalars(
            select(Payment).where(Payment.quote_id == quote.id)
        ).one_or_none()
        if existing is not None:
            if existing.source is not src:
                raise PaymentConflict("this quote was already paid from another source")
            return OpenedPayment(existing, quote, created=False)
    if quote.status is not QuoteStatus.ISSUED or now >= quote.expires_at:
        raise QuoteExpired(
            f"the quote expired at {quote.expires_at.isoformat()}; request a new quote"
        )

    payment = Payment(
        id=str(uuid.uuid4()),
        user_id=user_id,
        quote_id=quote.id,
        merchant_id=merchant_id,
        payee_vpa=quote.payee_vpa,
        payee_name=quote.payee_name,
        asset=quote.asset,
        amount_minor=quote.amount_minor,
        amount_inr_paise=quote.amount_inr_paise,
        source=src,
    )
    opened = OpenedPayment(payment, quote, created=True)
    rows = TimelineRows()  # the new rows of its events and audit trail, written with its moves
    if src is PaymentSource.CUSTODIAL:
        # First, so an unaffordable payment leaves nothing behind (the hold refuses).
        place_hold(
            session,
            user_wallet(user_id, quote.asset),
            quote.asset,
            quote.amount_minor,
            ref=hold_ref(payment.id),
        )
    quote.status = QuoteStatus.ACCEPTED  # written with the payment's insert
    open_payment(
        session,
        payment,
        actor=actor,
        reason="payment opened on quote " + quote.id,
        timeline=opened.timeline,
        rows=rows,
    )
    if quote.merchant_link_id is not None:
        # Same transaction as the payment: a link already used (or expired)
        # refuses with ``link_unavailable`` and nothing above is kept.
        consume_link(session, quote.merchant_link_id, payment.id, now=now)
    # The payment is inserted by its move below, in its final state, with the rows of
    # its events and audit trail (the decision's audit row joins them). No risk read
    # needs it: the AML reads leave out the payment they judge, and none looks at
    # events or audit rows. Autoflush would insert it here, to update it after.
    with session.no_autoflush:
        decision = assess_payment(
            session,
            user,
            payment.payee_vpa,
            payment.amount_inr_paise,
            payment.asset,
            device_id,
            now,
            payment_id=payment.id,
            amount_minor=payment.amount_minor,
            config=risk_config,
            new_payment=True,
            limits_last=True,
            audit_rows=rows.audits,
        )
    if decision.decision is RiskDecisionKind.DECLINE:
        raise PaymentDeclined(_decline_message(decision), code=decision.reasons[0])
    if SANCTIONS_HIT in decision.reasons:
        _refuse_sanctioned(session, payment, decision, timeline=opened.timeline, rows=rows)
        return opened
    if src is PaymentSource.CUSTODIAL:
        # One guarded move through every step, each with its own event and audit row.
        steps = [
            Step(PaymentStatus.AWAITING_FUNDS, "paying from the platform wallet"),
            Step(PaymentStatus.DETECTED, "amount held on the payer's balance"),
            Step(
                PaymentStatus.CONFIRMED,
                "custodial hold is final: internal transfer, no chain confirmation to wait for",
            ),
        ]
        if decision.decision is RiskDecisionKind.HOLD_FOR_REVIEW:
            steps.append(
                Step(
                    PaymentStatus.HELD_FOR_REVIEW,
                    "risk review: " + ", ".join(decision.reasons),
                    actor="system:risk",
                )
            )
        advance(
            session,
            payment.id,
            steps,
            actor=actor,
            timeline=opened.timeline,
            inserted=payment,
            payer_locked=True,
            rows=rows,
        )
    else:
        if assign_deposit is not None:
            payment.deposit_address = assign_deposit(session, payment)
        advance(
            session,
            payment.id,
            [Step(PaymentStatus.AWAITING_FUNDS, "waiting for the payer's transfer")],
            actor=actor,
            timeline=opened.timeline,
            rows=rows,
        )
    # Last, so the shared counter rows stay locked only until the caller's
    # commit; a refusal here rolls back the decision recorded above with
    # everything else (PaymentDeclined), as a decline in assess_payment would.
    refused = reserve_payment_limits(
        session,
        user,
        payment.payee_vpa,
        payment.amount_inr_paise,
        device_id,
        now,
        payment_id=payment.id,
        config=risk_config,
    )
    if refused is not None:
        raise PaymentDeclined(_decline_message(refused), code=refused.reasons[0])
    session.flush()
    return opened


def _decline_message(decision: RiskDecision) -> str:
    reason = decision.reasons[0] if decision.reasons else "declined"
    if reason.startswith("limit_"):
        return f"this payment is over your limits ({reason}); try a smaller amount or later"
    if reason == "user_frozen":
        return "this account is frozen: no new payments"
    return f"this payment was declined ({reason})"


def _refuse_sanctioned(
    session: Session,
    payment: Payment,
    decision: RiskDecision,
    *,
    timeline: list[PaymentEvent],
    rows: TimelineRows,
) -> Payment:
    """Stop a payment whose counterparty is listed: no funds held, a case for review."""
    if payment.source is PaymentSource.CUSTODIAL:
        void_hold(session, hold_ref(payment.id))
    cases = ", ".join(str(c) for c in decision.case_ids)
    advance(
        session,
        payment.id,
        [
            Step(
                PaymentStatus.FAILED,
                f"{SANCTIONS_HIT}: counterparty on the sanctions list; review case {cases}",
            )
        ],
        actor="system:risk",
        timeline=timeline,
        rows=rows,
    )
    session.flush()
    return payment
