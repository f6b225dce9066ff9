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
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import insert, inspect, select
from sqlalchemy.orm import Session

from wallet.audit import insert_rows, record, row_values
from wallet.db.atomic import atomic
from wallet.db.base import utcnow
from wallet.db.models.payments import Payment, PaymentEvent
from wallet.db.rows import table_of
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
    """``inserted`` if it is still this session's row for ``payment_id``, flushed or about
    to be (a rolled-back savepoint would have made it transient again), else None."""
    if inserted is None:
        return None
    state = inspect(inserted)
    if (
        inserted.id != payment_id
        or not (state.persistent or state.pending)
        or inserted not in session
    ):
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


@dataclass
class TimelineRows:
    """New timeline events and audit rows of one payment, written in one INSERT each.

    Intake opens a payment, records its risk decision and moves it on in
    one transaction; their rows go out together at the end of the move
    (:func:`advance`), without the ORM: for a payment's nine rows its unit
    of work cost about five times the two statements' CPU. The events
    handed back are transient copies, for a caller that answers with the
    timeline without reading it back.
    """

    at: datetime = field(default_factory=utcnow)
    events: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)

    def event(
        self,
        payment_id: str,
        before: PaymentStatus | None,
        after: PaymentStatus,
        *,
        reason: str,
        actor: str,
        version: int,
    ) -> PaymentEvent:
        values = {
            "payment_id": payment_id,
            "from_status": before,
            "to_status": after,
            "reason": reason,
            "actor": actor,
            "version": version,
            "journal_entry_id": None,
            "at": self.at,
        }
        self.events.append(values)
        return PaymentEvent(**values)

    def audit(self, *, actor: str, action: str, payment_id: str, data: dict[str, Any]) -> None:
        self.audits.append(
            row_values(
                actor=actor,
                action=action,
                subject_type="payment",
                subject_id=payment_id,
                data=data,
                at=self.at,
            )
        )

    def write(self, session: Session) -> None:
        """Insert what was gathered (events, then audit rows, each in order) and forget it."""
        if self.events:
            session.execute(_insert_events(), self.events)
        insert_rows(session, self.audits)
        self.events.clear()
        self.audits.clear()


@cache
def _insert_events() -> Any:
    table = table_of(PaymentEvent)
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


def open_payment(
    session: Session,
    payment: Payment,
    *,
    actor: str,
    reason: str,
    timeline: list[PaymentEvent] | None = None,
    rows: TimelineRows | None = None,
) -> Payment:
    """Insert a new payment in ``quote_issued`` with its first timeline event.

    Without ``rows`` the payment row is flushed here (a duplicate quote
    fails at once) and its event and audit row written. With ``rows`` the
    caller moves the payment on in this transaction (:func:`advance`): the
    row is added but not flushed, so it is inserted once, in its final
    state, by the move, and the event and audit row wait in ``rows`` for
    the move's INSERTs. ``timeline``, if given, receives the event (for a
    caller that answers with the timeline without reading it back).
    """
    payment.status = PaymentStatus.QUOTE_ISSUED
    payment.version = 1
    batch = rows if rows is not None else TimelineRows()
    session.add(payment)
    if rows is None:
        with atomic(session):
            session.flush()
    event = batch.event(
        payment.id, None, PaymentStatus.QUOTE_ISSUED, reason=reason, actor=actor, version=1
    )
    batch.audit(
        actor=actor,
        action="payment.open",
        payment_id=payment.id,
        data={"to": PaymentStatus.QUOTE_ISSUED.value, "reason": reason},
    )
    if rows is None:
        batch.write(session)
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
    rows: TimelineRows | None = None,
) -> Payment:
    """Make several moves in a row, as one: each allowed by the table, or none made.

    The same rows as one :func:`transition` per step (an event and an
    audit row each, versions counting up, the compliance hooks in order),
    under one row lock, as one atomic block, with the payment updated once.
    No ledger postings: a step that moves money goes through
    :func:`transition`. ``timeline``, if given, receives the events written.
    ``inserted``: the payment as the caller's own transaction inserted it or
    added it to be inserted (:func:`open_payment`); no other transaction
    can see that row yet, so it is neither locked nor read again, and its
    TDS is not looked for.
    ``payer_locked``: the caller's transaction holds the payer's row lock
    (intake), which the TDS hook would otherwise take. ``rows``: rows the
    caller gathered in this transaction (:func:`open_payment`'s), written
    with the moves' own.
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
        batch = rows if rows is not None else TimelineRows()
        events: list[PaymentEvent] = []
        for step, (before, after) in zip(steps, moves, strict=True):
            version += 1
            who = step.actor or actor
            events.append(
                batch.event(
                    payment_id, before, after, reason=step.reason, actor=who, version=version
                )
            )
            batch.audit(
                actor=who,
                action="payment.transition",
                payment_id=payment_id,
                data={
                    "from": before.value,
                    "to": after.value,
                    "reason": step.reason,
                    "version": version,
                    "journal_entry_id": None,
                },
            )
        payment.status = current
        payment.status_reason = steps[-1].reason
        payment.version = version
        session.flush()
        batch.write(session)
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
