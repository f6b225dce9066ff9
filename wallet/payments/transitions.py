"""The one way a payment's status changes.

:func:`transition` locks the payment row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers),
checks the move against :data:`~wallet.payments.states.ALLOWED_TRANSITIONS`,
and writes the new status, the timeline event, the audit row and the
optional ledger entry together, as one :func:`~wallet.db.atomic.atomic`
block of the caller's transaction: either all of it lands or none of it
does.

:func:`advance` walks several allowed moves in a row (intake's custodial
``awaiting_funds → detected → confirmed``) under one lock, as one
atomic block: every step is checked against the table before anything is
written, then the payment is updated once and each step's event and audit
row are written, so the timeline is identical to calling
:func:`transition` once per step, for a third of the statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from wallet.audit import entry, record
from wallet.db.atomic import atomic
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


def _own_insert(session: Session, inserted: Payment | None, payment_id: str) -> Payment | None:
    """``inserted`` if it is still this session's row for ``payment_id`` (a rolled-back
    savepoint would have made it transient again), else None."""
    if inserted is None:
        return None
    if inserted.id != payment_id or not inspect(inserted).persistent or inserted not in session:
        raise ValueError(f"payment {payment_id!r} was not inserted in this transaction")
    return inserted


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

    with atomic(session):
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


def open_payment(
    session: Session,
    payment: Payment,
    *,
    actor: str,
    reason: str,
    timeline: list[PaymentEvent] | None = None,
) -> Payment:
    """Insert a new payment in ``quote_issued`` with its first timeline event.

    The payment row is flushed here (a duplicate quote fails at once); its
    event and audit row are added for the transaction's next flush, so a
    caller that moves the payment on at once (intake) writes them in the
    same INSERTs as the moves' rows. ``timeline``, if given, receives the
    event (for a caller that answers with the timeline without reading it
    back).
    """
    payment.status = PaymentStatus.QUOTE_ISSUED
    payment.version = 1
    event = PaymentEvent(
        payment_id=payment.id,
        from_status=None,
        to_status=PaymentStatus.QUOTE_ISSUED,
        reason=reason,
        actor=actor,
        version=1,
    )
    with atomic(session):
        session.add(payment)
        session.flush()
        session.add(event)
        session.add(
            entry(
                actor=actor,
                action="payment.open",
                subject_type="payment",
                subject_id=payment.id,
                data={"to": PaymentStatus.QUOTE_ISSUED.value, "reason": reason},
            )
        )
    if timeline is not None:
        timeline.append(event)
    return payment


class Step(NamedTuple):
    """One move of :func:`advance`: the status to reach, why, and who (default: the call's)."""

    to: PaymentStatus
    reason: str
    actor: str | None = None


def advance(
    session: Session,
    payment_id: str,
    steps: Sequence[Step],
    *,
    actor: str,
    expected_from: PaymentStatus | str | None = None,
    timeline: list[PaymentEvent] | None = None,
    inserted: Payment | None = None,
    payer_locked: bool = False,
) -> Payment:
    """Make several moves in a row, as one: each allowed by the table, or none made.

    The same rows as one :func:`transition` per step (an event and an
    audit row each, versions counting up, the compliance hooks in order),
    under one row lock, as one atomic block, with the payment updated once.
    No ledger postings: a step that moves money goes through
    :func:`transition`. ``timeline``, if given, receives the events written.
    ``inserted``: the payment as the caller's own transaction inserted it
    (:func:`open_payment`); no other transaction can see that row yet, so
    it is neither locked nor read again, and its TDS is not looked for.
    ``payer_locked``: the caller's transaction holds the payer's row lock
    (intake), which the TDS hook would otherwise take.
    """
    if not steps:
        raise IllegalTransition("advance needs at least one step")
    targets: list[PaymentStatus] = []
    try:
        for step in steps:
            targets.append(PaymentStatus(step.to))
        expected = None if expected_from is None else PaymentStatus(expected_from)
    except ValueError as exc:
        raise IllegalTransition(f"unknown payment status: {exc}") from None
    for step, target in zip(steps, targets, strict=True):
        if not step.reason or not step.reason.strip():
            raise IllegalTransition("a transition needs a reason", requested=target.value)

    with atomic(session):
        payment = _own_insert(session, inserted, payment_id) or lock_payment(session, payment_id)
        start = payment.status
        if expected is not None and start is not expected:
            raise IllegalTransition(
                f"payment {payment_id} is {start.value}, not {expected.value}",
                current=start.value,
                requested=targets[0].value,
            )
        moves: list[tuple[PaymentStatus, PaymentStatus]] = []
        current = start
        for target in targets:
            if target not in ALLOWED_TRANSITIONS[current]:
                raise IllegalTransition(
                    f"payment {payment_id} cannot go from {current.value} to {target.value}",
                    current=current.value,
                    requested=target.value,
                )
            moves.append((current, target))
            current = target
        version = payment.version
        events: list[PaymentEvent] = []
        for step, (before, after) in zip(steps, moves, strict=True):
            version += 1
            who = step.actor or actor
            events.append(
                PaymentEvent(
                    payment_id=payment_id,
                    from_status=before,
                    to_status=after,
                    reason=step.reason,
                    actor=who,
                    version=version,
                )
            )
            session.add(
                entry(
                    actor=who,
                    action="payment.transition",
                    subject_type="payment",
                    subject_id=payment_id,
                    data={
                        "from": before.value,
                        "to": after.value,
                        "reason": step.reason,
                        "version": version,
                        "journal_entry_id": None,
                    },
                )
            )
        session.add_all(events)
        payment.status = current
        payment.status_reason = steps[-1].reason
        payment.version = version
        session.flush()
        for before, after in moves:
            after_transition(
                session,
                payment,
                before,
                after,
                payer_locked=payer_locked,
                new_payment=inserted is not None,
            )
    if timeline is not None:
        timeline.extend(events)
    return payment
