"""Build payments in a given status for state-machine tests."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from wallet.db.base import utcnow
from wallet.db.models import Payment, PaymentSource, PaymentStatus, Quote, User


def make_user(session: Session) -> User:
    user = User(email=f"payer-{uuid.uuid4().hex[:8]}@Example.com", password_hash="x")
    session.add(user)
    session.flush()
    return user


def build_payment(session: Session, user_id: int) -> Payment:
    """A saved quote and an unsaved payment on it."""
    quote = Quote(
        id=str(uuid.uuid4()),
        user_id=user_id,
        asset="ETH",
        amount_minor=5 * 10**15,
        amount_inr_paise=150_000,
        rate="300000.00",
        payee_vpa="vendor@okbank",
        payee_name="Chai Stall",
        expires_at=utcnow() + timedelta(seconds=90),
    )
    session.add(quote)
    session.flush()
    payment = Payment(
        id=str(uuid.uuid4()),
        user_id=user_id,
        quote_id=quote.id,
        payee_vpa=quote.payee_vpa,
        payee_name=quote.payee_name,
        asset=quote.asset,
        amount_minor=quote.amount_minor,
        amount_inr_paise=quote.amount_inr_paise,
        source=PaymentSource.EXTERNAL,
    )
    return payment


def make_payment(
    session: Session, user_id: int, status: PaymentStatus = PaymentStatus.QUOTE_ISSUED
) -> Payment:
    """A payment row placed directly in ``status`` (test setup bypasses transitions)."""
    payment = build_payment(session, user_id)
    payment.status = status
    session.add(payment)
    session.flush()
    return payment
