"""The one way a payment's status changes.

:func:`transition` locks the payment row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers),
checks the move against :data:`~wallet.payments.states.ALLOWED_TRANSITIONS`,
and writes the new status, the timeline event, the audit row and the
optional ledger entry together, inside a savepoint of the caller's
transaction: either all of it lands or none of it does.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.db.models.payments import Payment, PaymentEvent
from wallet.errors import IllegalTransition, PaymentNotFound
from wallet.ledger.entries import PostingSpec, post_entry
from wallet.payments.compliance_hooks import after_transition
from wallet.payments.states import ALLOWED_TRANSITIONS, PaymentStatus


def lock_payment(session: Session, payment_id: str) -> Payment:
    """The payment row, locked for the rest of the transaction and re-read."""
    payment = session.scalars(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id!r}")
    return payment


def transition(
    session: Session,
    payment_id: str,
    to_status: PaymentStatus | str,
    reason: str,
    *,
    actor: str,
    ledger_postings: Sequence[PostingSpec] | None = None,
    ledger_kind: str | None = None,
    expected_from: PaymentStatus | str | None = None,
) -> Payment:
    """Move a payment to ``to_status`` and record why.

    ``expected_from`` guards against acting on a stale read (e.g. a sensor
    that saw ``detected`` before another run confirmed it). Ledger postings,
    if given, are posted as entry ``(ledger_kind or "payment.<to_status>",
    "<payment_id>:v<new version>")``. Raises :class:`IllegalTransition`
    (code ``illegal_transition``) for a move the table does not allow, and
    lets ledger errors through; either way nothing changes.
    """
    try:
        target = PaymentStatus(to_status)
        expected = None if expected_from is None else PaymentStatus(expected_from)
    except ValueError as exc:
        raise IllegalTransition(f"unknown payment status: {exc}") from None
    if not reason or not reason.strip():
        raise IllegalTransition("a transition needs a reason", requested=target.value)

    with session.begin_nested():
        payment = lock_payment(session, payment_id)
        current = payment.status
        if expected is not None and current is not expected:
            raise IllegalTransition(
                f"payment {payment_id} is {current.value}, not {expected.value}",
                current=current.value,
                requested=target.value,
            )
        if target not in ALLOWED_TRANSITIONS[current]:
            raise IllegalTransition(
                f"payment {payment_id} cannot go from {current.value} to {target.value}",
                current=current.value,
                requested=target.value,
            )
        version = payment.version + 1
        entry_id = None
        if ledger_postings:
            entry = post_entry(
                session,
                ledger_postings,
                kind=ledger_kind or f"payment.{target.value}",
                ref=f"{payment_id}:v{version}",
            )
            entry_id = entry.id
        payment.status = target
        payment.status_reason = reason
        payment.version = version
        session.add(
            PaymentEvent(
                payment_id=payment_id,
                from_status=current,
                to_status=target,
                reason=reason,
                actor=actor,
                version=version,
                journal_entry_id=entry_id,
            )
        )
        record(
            session,
            actor=actor,
            action="payment.transition",
            subject_type="payment",
            subject_id=payment_id,
            data={
                "from": current.value,
                "to": target.value,
                "reason": reason,
                "version": version,
                "journal_entry_id": entry_id,
            },
        )
        session.flush()
        after_transition(session, payment, current, target)
        return payment


def open_payment(session: Session, payment: Payment, *, actor: str, reason: str) -> Payment:
    """Insert a new payment in ``quote_issued`` with its first timeline event."""
    payment.status = PaymentStatus.QUOTE_ISSUED
    payment.version = 1
    with session.begin_nested():
        session.add(payment)
        session.flush()
        session.add(
            PaymentEvent(
                payment_id=payment.id,
                from_status=None,
                to_status=PaymentStatus.QUOTE_ISSUED,
                reason=reason,
                actor=actor,
                version=1,
            )
        )
        record(
            session,
            actor=actor,
            action="payment.open",
            subject_type="payment",
            subject_id=payment.id,
            data={"to": PaymentStatus.QUOTE_ISSUED.value, "reason": reason},
        )
    return payment
