"""Quotes persisted, payments opened: holds, expiry, funds, idempotency, ownership."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import VPA, fund, new_user, sol_calculator
from wallet.db.models import LedgerHold, Payment, PaymentEvent, PaymentSource, Quote, QuoteStatus
from wallet.db.session import transaction
from wallet.errors import WalletError
from wallet.ledger import check_invariants, get_balance, user_wallet
from wallet.payments.intake import create_payment, create_quote, hold_ref
from wallet.payments.states import PaymentStatus

NOW = datetime.now(UTC)


def _quote(session: Session, uid: int, inr: int = 50_000, now: datetime = NOW) -> Quote:
    return create_quote(
        session, uid, asset="SOL", calculate=sol_calculator(now), payee_vpa=VPA, amount_paise=inr
    )


def test_custodial_payment_holds_the_quoted_crypto_and_is_ready_to_settle(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        uid = new_user(s)
        fund(s, uid, "SOL", 10**9)
        quote = _quote(s, uid)
        payment = create_payment(s, uid, quote.id, "custodial", now=NOW)
    with factory() as s:
        stored = s.get_one(Quote, quote.id)
        assert stored.status is QuoteStatus.ACCEPTED
        assert stored.amount_inr_paise == 50_000 and stored.fees["target_paise"] > 50_000
        p = s.get_one(Payment, payment.id)
        assert p.status is PaymentStatus.CONFIRMED and p.amount_minor == quote.amount_minor
        bal = get_balance(s, user_wallet(uid, "SOL"))
        assert (bal.balance, bal.held) == (10**9, quote.amount_minor)
        hold = s.scalars(select(LedgerHold).where(LedgerHold.ref == hold_ref(p.id))).one()
        assert hold.amount == quote.amount_minor
        steps = s.scalars(
            select(PaymentEvent.to_status)
            .where(PaymentEvent.payment_id == p.id)
            .order_by(PaymentEvent.version)
        ).all()
        assert steps == ["quote_issued", "awaiting_funds", "detected", "confirmed"]
        check_invariants(s)


def test_expired_quote_is_refused_before_any_funds_move(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        uid = new_user(s)
        fund(s, uid, "SOL", 10**9)
        quote_id = _quote(s, uid).id
    late = NOW + timedelta(seconds=91)
    with pytest.raises(WalletError) as err, transaction(factory) as s:
        create_payment(s, uid, quote_id, "custodial", now=late)
    assert err.value.code == "quote_expired"
    with factory() as s:
        assert s.scalar(select(func.count(Payment.id))) == 0
        assert get_balance(s, user_wallet(uid, "SOL")).held == 0


def test_insufficient_funds_has_a_stable_code_and_leaves_nothing(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        uid = new_user(s)
        fund(s, uid, "SOL", 1_000)  # far less than ₹500 of SOL
        quote_id = _quote(s, uid).id
    with pytest.raises(WalletError) as err, transaction(factory) as s:
        create_payment(s, uid, quote_id, "custodial", now=NOW)
    assert err.value.code == "insufficient_funds"
    with factory() as s:
        assert s.scalar(select(func.count(Payment.id))) == 0
        assert s.scalar(select(func.count(LedgerHold.id))) == 0
        assert s.get_one(Quote, quote_id).status is QuoteStatus.ISSUED
        check_invariants(s)


def test_one_payment_per_quote_and_quotes_are_private(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        uid, other = new_user(s), new_user(s)
        fund(s, uid, "SOL", 10**9)
        quote_id = _quote(s, uid).id
    with transaction(factory) as s:
        first = create_payment(s, uid, quote_id, "custodial", now=NOW).id
    with transaction(factory) as s:
        assert create_payment(s, uid, quote_id, "custodial", now=NOW).id == first
    for who, source, code in [
        (uid, "external", "payment_conflict"),
        (other, "custodial", "quote_not_found"),
    ]:
        with pytest.raises(WalletError) as err, transaction(factory) as s:
            create_payment(s, who, quote_id, source, now=NOW)
        assert err.value.code == code
    with factory() as s:
        assert get_balance(s, user_wallet(uid, "SOL")).held > 0
        assert s.scalar(select(func.count(LedgerHold.id))) == 1


def test_external_payment_awaits_funds_at_its_deposit_address(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        uid = new_user(s)
        quote_id = _quote(s, uid).id
        payment = create_payment(
            s, uid, quote_id, PaymentSource.EXTERNAL, now=NOW, assign_deposit=lambda _s, p: "Dep1"
        )
    with factory() as s:
        p = s.get_one(Payment, payment.id)
        assert (p.status, p.deposit_address) == (PaymentStatus.AWAITING_FUNDS, "Dep1")
        assert s.scalar(select(func.count(LedgerHold.id))) == 0


def test_a_static_qr_needs_an_amount(factory: sessionmaker[Session]) -> None:
    with pytest.raises(WalletError) as err, transaction(factory) as s:
        uid = new_user(s)
        create_quote(
            s, uid, asset="SOL", calculate=sol_calculator(NOW), payee_vpa=VPA, amount_paise=None
        )
    assert err.value.code == "amount_required"
