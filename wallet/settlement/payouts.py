"""The vendor payout: record the attempt, send once, learn the outcome, apply it.

RELIABILITY G3 for payouts: the attempt row and its payout row (whose
``idempotency_key`` is the attempt id) commit before RazorpayX is called.
Every send is preceded by a look-up of the payment's payouts at RazorpayX
(``reference_id`` = payment id, ``notes.attempt`` = attempt id), so a run
that crashed after the call but before storing the answer finds the payout
instead of sending again; and a resend, if the look-up finds nothing, uses
the same key and body, which RazorpayX maps to the same payout anyway. A new
attempt (new key) starts only after the previous one is terminally failed.

Statuses from the API, webhooks and polls all go through
:func:`apply_payout_status`, which only moves forward and posts the ledger
effects of ``processed`` and ``reversed`` exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.db.models.ops import OutboxMessage
from wallet.db.models.payments import Payment
from wallet.db.models.settlement import (
    AttemptState,
    Payout,
    PayoutStatus,
    SettlementAttempt,
)
from wallet.payments.states import PaymentStatus, can_transition
from wallet.payments.transitions import lock_payment, transition
from wallet.payouts.razorpayx import Payout as RemotePayout
from wallet.payouts.razorpayx import PayoutMode
from wallet.payouts.status import PayoutStatus as ProviderStatus
from wallet.payouts.status import can_follow
from wallet.settlement import ledger

log = logging.getLogger(__name__)
ACTOR = "system:settlement"

FAILED_STATES = frozenset({PayoutStatus.FAILED, PayoutStatus.REJECTED, PayoutStatus.CANCELLED})
OPEN_STATES = frozenset(
    {
        PayoutStatus.CREATED,
        PayoutStatus.UNKNOWN,
        PayoutStatus.PENDING,
        PayoutStatus.QUEUED,
        PayoutStatus.SCHEDULED,
        PayoutStatus.PROCESSING,
    }
)


class PayoutGateway(Protocol):
    """The part of :class:`wallet.payouts.razorpayx.RazorpayXClient` settlement uses."""

    def create_payout(
        self,
        *,
        amount_paise: int,
        reference_id: str,
        idempotency_key: str,
        fund_account_id: str | None = None,
        vpa: str | None = None,
        contact_name: str | None = None,
        mode: PayoutMode = PayoutMode.UPI,
        purpose: str = "payout",
        narration: str | None = None,
        notes: Mapping[str, str] | None = None,
        queue_if_low_balance: bool = True,
    ) -> RemotePayout: ...

    def get_payout(self, payout_id: str) -> RemotePayout: ...

    def find_payouts(self, reference_id: str) -> list[RemotePayout]: ...

    def get_balance_paise(self) -> int: ...


@dataclass(frozen=True)
class Applied:
    """What applying one observation did (for alerts and metadata)."""

    changed: bool
    status: PayoutStatus
    queued: bool = False
    reversed: bool = False
    failed: bool = False


def _moves_forward(current: PayoutStatus, new: PayoutStatus) -> bool:
    if current in (PayoutStatus.CREATED, PayoutStatus.UNKNOWN):
        return True
    return can_follow(ProviderStatus(current.value), ProviderStatus(new.value))


def find_remote(gateway: PayoutGateway, payout: Payout) -> RemotePayout | None:
    """The provider's payout for our key: by provider id, else by reference + note."""
    if payout.provider_payout_id:
        return gateway.get_payout(payout.provider_payout_id)
    matches = [
        p
        for p in gateway.find_payouts(payout.payment_id)
        if p.notes.get("attempt") == payout.idempotency_key
    ]
    if len(matches) > 1:  # cannot happen with one key; say so loudly if it does
        log.error("payout key %s matches %d payouts", payout.idempotency_key, len(matches))
    return matches[0] if matches else None


def payout_request(
    payment: Payment, payout: Payout, fund_account_id: str | None = None
) -> dict[str, object]:
    """The create-payout arguments: derived from stored rows only, so a resend is identical.

    An IMPS fallback attempt (``payout.bank_account_id`` set) pays the
    merchant's bank ``fund_account_id`` (:mod:`wallet.settlement.imps`).
    """
    if payout.bank_account_id is not None:
        if fund_account_id is None:
            raise ValueError("an IMPS payout needs the bank account's fund account id")
        return {
            "amount_paise": payout.amount_paise,
            "reference_id": payment.id,
            "idempotency_key": payout.idempotency_key,
            "fund_account_id": fund_account_id,
            "mode": PayoutMode.IMPS,
            "notes": {"attempt": payout.idempotency_key, "payment": payment.id},
            "queue_if_low_balance": True,
        }
    return {
        "amount_paise": payout.amount_paise,
        "reference_id": payment.id,
        "idempotency_key": payout.idempotency_key,
        "vpa": payout.vpa,
        "contact_name": (payment.payee_name or payout.vpa.split("@", 1)[0])[:50],
        "notes": {"attempt": payout.idempotency_key, "payment": payment.id},
        "queue_if_low_balance": True,  # a low float queues payouts instead of failing them
    }


def apply_payout_status(session: Session, payout: Payout, remote: RemotePayout) -> Applied:
    """Apply one observation of the provider's payout, forward only, with its effects."""
    new = PayoutStatus(remote.status.value)
    if payout.provider_payout_id is None:
        payout.provider_payout_id = remote.id
    if not _moves_forward(payout.status, new):
        return Applied(False, payout.status)
    previous = payout.status
    payout.status = new
    if remote.utr:
        payout.utr = remote.utr
    if remote.status_details is not None and new in FAILED_STATES | {PayoutStatus.REVERSED}:
        payout.failure_reason = remote.status_details.description or remote.status_details.reason
    attempt = session.get(SettlementAttempt, payout.attempt_id) if payout.attempt_id else None
    record(
        session,
        actor=ACTOR,
        action="payout.status",
        subject_type="payout",
        subject_id=payout.idempotency_key,
        data={"from": previous.value, "to": new.value, "utr": payout.utr},
    )
    result = Applied(True, new, queued=new is PayoutStatus.QUEUED)
    if new is PayoutStatus.PROCESSED:
        _processed(session, payout, remote, attempt)
    elif new is PayoutStatus.REVERSED:
        _processed(session, payout, remote, attempt)  # reordered webhooks may skip "processed"
        _reversed(session, payout, attempt)
        result = Applied(True, new, reversed=True)
    elif new in FAILED_STATES:
        if attempt is not None:
            attempt.state = AttemptState.FAILED
            attempt.error = payout.failure_reason or new.value
        result = Applied(True, new, failed=True)
    elif attempt is not None and attempt.state in (AttemptState.STARTED, AttemptState.UNKNOWN):
        attempt.state = AttemptState.PAYOUT_SUBMITTED
    session.flush()
    return result


def _move(session: Session, payment: Payment, path: Sequence[PaymentStatus], reason: str) -> None:
    for target in path:
        if payment.status is target:
            continue
        if not can_transition(payment.status, target):
            log.warning("payment %s is %s; not moving to %s", payment.id, payment.status, target)
            return
        transition(session, payment.id, target, reason, actor=ACTOR)


def _processed(
    session: Session, payout: Payout, remote: RemotePayout, attempt: SettlementAttempt | None
) -> None:
    if ledger.has_processed(session, payout.idempotency_key):
        return
    # Kept as booked: a reversal gives back exactly what this entry took.
    payout.fees_paise, payout.tax_paise = remote.fees_paise, remote.tax_paise
    ledger.post_processed(
        session, payout.idempotency_key, payout.amount_paise, payout.charges_paise
    )
    if attempt is not None:
        attempt.state = AttemptState.PAYOUT_PROCESSED
    payment = lock_payment(session, payout.payment_id)
    if payment.status is PaymentStatus.SETTLING:
        _move(session, payment, [PaymentStatus.PAID_OUT], f"vendor paid (UTR {payout.utr or '-'})")
    from wallet.settlement.selling import maybe_complete

    maybe_complete(session, payment.id)


def _reversed(session: Session, payout: Payout, attempt: SettlementAttempt | None) -> None:
    ledger.post_reversed(session, payout.idempotency_key, payout.amount_paise, payout.charges_paise)
    if attempt is not None:
        attempt.state = AttemptState.FAILED
        attempt.error = "payout reversed after processing"
    payment = lock_payment(session, payout.payment_id)
    _move(
        session,
        payment,
        [PaymentStatus.PAYOUT_REVERSED],
        f"payout reversed by the beneficiary bank ({payout.failure_reason or 'no reason'})",
    )
    key = f"payment:{payment.id}:payout_reversed:{payout.idempotency_key}"
    exists = session.scalars(select(OutboxMessage.id).where(OutboxMessage.key == key)).first()
    if exists is None:
        session.add(
            OutboxMessage(
                topic="payment.payout_reversed",
                key=key,
                payload={
                    "payment_id": payment.id,
                    "merchant_id": payment.merchant_id,
                    "amount_inr_paise": str(payout.amount_paise),
                    "utr": payout.utr,
                },
            )
        )
