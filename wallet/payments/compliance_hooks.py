"""Risk and tax side effects of payment state changes (issue 9).

- Funds move (a payment reaches ``confirmed``): fix its Section 194S TDS
  with :func:`wallet.compliance.tds.record_tds` (idempotent per payment).
- The payment dies before any funds moved (``quote_issued`` or
  ``awaiting_funds`` → ``failed`` / ``expired``): give back the velocity
  and amount limits its risk assessment reserved, so an abandoned quote
  does not eat the payer's daily limit. So does an underpaid payment that
  gives up at its funding deadline (``underpaid → refunded``).

Called by :func:`wallet.payments.transitions.transition` inside its
savepoint, so a failure here undoes the transition too.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from sqlalchemy.orm import Session

from wallet.db.base import utcnow
from wallet.db.models.payments import Payment
from wallet.payments.states import PaymentStatus

_BEFORE_FUNDS = frozenset({PaymentStatus.QUOTE_ISSUED, PaymentStatus.AWAITING_FUNDS})
_DEAD = frozenset({PaymentStatus.FAILED, PaymentStatus.EXPIRED})


def after_transition(
    session: Session,
    payment: Payment,
    before: PaymentStatus,
    after: PaymentStatus,
    *,
    now: datetime | None = None,
    payer_locked: bool = False,
    new_payment: bool = False,
) -> None:
    """Apply the TDS / limit-release rule for one move ``before → after``.

    ``payer_locked`` and ``new_payment`` are :func:`~wallet.compliance.tds.record_tds`'s.
    """
    # Imported here: compliance and risk import the payment models, not the reverse.
    from wallet.compliance.tds import record_tds
    from wallet.db.models.users import User
    from wallet.risk.engine import payment_ref
    from wallet.risk.errors import ReservationNotFound
    from wallet.risk.limits import release_reservation

    now = now or utcnow()
    if after is PaymentStatus.CONFIRMED:
        user = session.get(User, payment.user_id)
        if user is not None:
            record_tds(
                session,
                payment_id=payment.id,
                user=user,
                consideration_paise=payment.amount_inr_paise,
                now=now,
                payer_locked=payer_locked,
                new_payment=new_payment,
            )
    elif (before in _BEFORE_FUNDS and after in _DEAD) or (
        before is PaymentStatus.UNDERPAID and after is PaymentStatus.REFUNDED
    ):
        # Never paid: the limits go back. Refused or stopped by screening before anything
        # was reserved: nothing to give back.
        with contextlib.suppress(ReservationNotFound):
            release_reservation(session, payment_ref(payment.id), now=now)
