"""The review queue: what an operator can do with a payment held for review.

Three actions, each audited and each a guarded transition of the payment
state machine (never a status written by hand):

- **retry settlement** — ``held_for_review → settling``. If the payment was
  held before its crypto was collected, the collect and obligation entries
  are posted first (idempotent), exactly as settlement would have.
- **refund to payer** — ``held_for_review → refunded``. The payer's crypto
  goes back to their platform wallet: a pending custodial hold is voided;
  collected crypto is moved back from the trading position and the INR
  obligation to the vendor is reversed, in one balanced entry; an external
  deposit never collected is credited to the payer from where its chain
  credit was booked. Refused if any payout to the vendor was processed.
- **mark resolved** — closes the open review cases naming the payment with
  the operator's finding; the payment's state is unchanged.

Retry and refund of a payment above ``two_admin_threshold_paise`` wait in
``pending_approvals`` until a *different* admin approves (enforced here and
by a database CHECK).

Withdrawals parked for review have their own two actions (approve and
send, reject) in :mod:`wallet.admin.withdrawal_review`; :func:`approve`
runs either kind of pending request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.admin.config import AdminConfig
from wallet.admin.errors import (
    ActionRefused,
    AdminNotFound,
    ApprovalNotPending,
    NotAnAdmin,
    SecondAdminRequired,
)
from wallet.admin.models import ApprovalStatus, PendingApproval
from wallet.audit import record
from wallet.db.models.chain import Credit
from wallet.db.models.ledger import HoldStatus, LedgerHold
from wallet.db.models.payments import Payment, PaymentEvent, PaymentSource, Quote
from wallet.db.models.settlement import Payout, PayoutStatus
from wallet.db.models.users import Role, User
from wallet.errors import WalletError
from wallet.ledger import user_wallet
from wallet.ledger.entries import PostingSpec, entry_postings, find_entry
from wallet.ledger.holds import void_hold
from wallet.payments.intake import hold_ref
from wallet.payments.states import PaymentStatus
from wallet.payments.transitions import lock_payment, transition
from wallet.risk.cases import resolve_case
from wallet.risk.models import CaseStatus, ReviewCase
from wallet.settlement import ledger as settlement_ledger

RETRY = "payment.retry_settlement"
REFUND = "payment.refund"
RESOLVE = "payment.mark_resolved"
ACTIONS = {RETRY: "Retry settlement", REFUND: "Refund to payer", RESOLVE: "Mark resolved"}
MONEY_ACTIONS = frozenset({RETRY, REFUND})


@dataclass(frozen=True, slots=True)
class Outcome:
    """``executed`` now, or waiting for a second admin in ``approval``."""

    executed: bool
    approval: PendingApproval | None
    message: str


def _check_admin(user: User) -> None:
    if user.role is not Role.ADMIN:
        raise NotAnAdmin("only admins may act on the review queue")


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ActionRefused("say why (the reason is audited)", code="reason_required")
    return reason.strip()[:1000]


# Shared with the withdrawal half of the queue (wallet.admin.withdrawal_review).
check_admin = _check_admin
require_reason = _reason


def cases_for(session: Session, payment_id: str) -> list[ReviewCase]:
    """Open review cases that name the payment."""
    cases = session.scalars(select(ReviewCase).where(ReviewCase.status == CaseStatus.OPEN)).all()
    return [c for c in cases if payment_id in (c.payment_ids or [])]


def held_payments(session: Session, limit: int = 200) -> list[tuple[Payment, list[ReviewCase]]]:
    """The queue: payments held for review, oldest first, with their open cases."""
    payments = session.scalars(
        select(Payment)
        .where(Payment.status == PaymentStatus.HELD_FOR_REVIEW)
        .order_by(Payment.updated_at, Payment.id)
        .limit(limit)
    ).all()
    cases = session.scalars(select(ReviewCase).where(ReviewCase.status == CaseStatus.OPEN)).all()
    return [(p, [c for c in cases if p.id in (c.payment_ids or [])]) for p in payments]


def pending_approvals(session: Session) -> list[PendingApproval]:
    return list(
        session.scalars(
            select(PendingApproval)
            .where(PendingApproval.status == ApprovalStatus.PENDING)
            .order_by(PendingApproval.id)
        )
    )


# --- the actions ---------------------------------------------------------------------


def _was_confirmed(session: Session, payment: Payment) -> bool:
    steps = session.scalars(
        select(PaymentEvent.to_status).where(PaymentEvent.payment_id == payment.id)
    ).all()
    return any(s in (PaymentStatus.CONFIRMED, PaymentStatus.SETTLING) for s in steps)


def _retry(session: Session, payment: Payment, actor: str, reason: str) -> str:
    collected = find_entry(session, settlement_ledger.KIND_OBLIGATION, payment.id) is not None
    if not collected:
        if not _was_confirmed(session, payment):
            raise ActionRefused(
                "this payment was never confirmed in full; refund it instead",
                code="not_confirmed",
            )
        quote = session.get_one(Quote, payment.quote_id)
        settlement_ledger.post_collect(session, payment, quote)
    transition(
        session,
        payment.id,
        PaymentStatus.SETTLING,
        f"review cleared: {reason}",
        actor=actor,
        expected_from=PaymentStatus.HELD_FOR_REVIEW,
    )
    return "released to settlement"


def _counter_account(session: Session, credit: Credit) -> str:
    """Where a chain credit was booked (the non-escrow leg), or the escrow account."""
    if credit.journal_entry_id is not None:
        for code, _asset, amount in entry_postings(session, credit.journal_entry_id):
            if amount < 0:  # the credited side: what the deposit is owed to
                return code
    return settlement_ledger.escrow(credit.asset)


def refund_postings(session: Session, payment: Payment) -> list[PostingSpec] | None:
    """The entry that gives the payer their crypto back (None: void the custodial hold)."""
    paid = session.scalars(
        select(Payout.id).where(
            Payout.payment_id == payment.id, Payout.status == PayoutStatus.PROCESSED
        )
    ).first()
    if paid is not None:
        raise ActionRefused(
            "a payout to the vendor was processed; a refund would pay twice",
            code="payout_processed",
        )
    wallet = user_wallet(payment.user_id, payment.asset)
    obligation = find_entry(session, settlement_ledger.KIND_OBLIGATION, payment.id)
    if obligation is not None:
        legs: list[PostingSpec] = [
            (code, asset, -amount) for code, asset, amount in entry_postings(session, obligation.id)
        ]
        legs += [
            (settlement_ledger.trading(payment.asset), payment.asset, payment.amount_minor),
            (wallet, payment.asset, -payment.amount_minor),
        ]
        return legs
    if payment.source is PaymentSource.CUSTODIAL:
        return None
    credits = session.scalars(select(Credit).where(Credit.payment_id == payment.id)).all()
    if not credits:
        raise ActionRefused("no deposit was credited for this payment", code="nothing_received")
    legs = []
    for credit in credits:
        legs += [
            (_counter_account(session, credit), credit.asset, credit.amount_minor),
            (wallet, credit.asset, -credit.amount_minor),
        ]
    return legs


def _refund(session: Session, payment: Payment, actor: str, reason: str) -> str:
    legs = refund_postings(session, payment)
    if legs is None:
        hold = session.scalars(
            select(LedgerHold).where(LedgerHold.ref == hold_ref(payment.id))
        ).one_or_none()
        if hold is None or hold.status is not HoldStatus.PENDING:
            raise ActionRefused("nothing is held for this payment", code="nothing_received")
        void_hold(session, hold_ref(payment.id))
    transition(
        session,
        payment.id,
        PaymentStatus.REFUNDED,
        f"refunded to the payer's wallet: {reason}",
        actor=actor,
        ledger_postings=legs,
        ledger_kind="payment.refund",
        expected_from=PaymentStatus.HELD_FOR_REVIEW,
    )
    return "refunded to the payer's wallet"


def _resolve(
    session: Session, payment: Payment, actor: str, reason: str, admin: User, now: datetime
) -> str:
    cases = cases_for(session, payment.id)
    for case in cases:
        resolve_case(session, case.id, admin=admin, resolution=reason, now=now)
    record(
        session,
        actor=actor,
        action="payment.review_resolved",
        subject_type="payment",
        subject_id=payment.id,
        data={"reason": reason, "cases": [c.id for c in cases], "status": payment.status.value},
    )
    return f"marked resolved ({len(cases)} case(s) closed)"


def _execute(
    session: Session,
    action: str,
    payment_id: str,
    actor: str,
    reason: str,
    admin: User,
    now: datetime,
) -> str:
    payment = lock_payment(session, payment_id)
    handlers: dict[str, Callable[[], str]] = {
        RETRY: lambda: _retry(session, payment, actor, reason),
        REFUND: lambda: _refund(session, payment, actor, reason),
        RESOLVE: lambda: _resolve(session, payment, actor, reason, admin, now),
    }
    if action not in handlers:
        raise ActionRefused(f"unknown action {action!r}", code="unknown_action")
    if action in MONEY_ACTIONS and payment.status is not PaymentStatus.HELD_FOR_REVIEW:
        raise ActionRefused(
            f"the payment is {payment.status.value}, not held for review", code="not_held"
        )
    with session.begin_nested():
        return handlers[action]()


def request_action(
    session: Session,
    action: str,
    payment_id: str,
    *,
    admin: User,
    reason: object,
    config: AdminConfig,
    now: datetime,
) -> Outcome:
    """Carry out ``action`` now, or file it for a second admin above the threshold."""
    _check_admin(admin)
    why = _reason(reason)
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise AdminNotFound("no such payment")
    if action in MONEY_ACTIONS and payment.amount_inr_paise > config.two_admin_threshold_paise:
        return file_for_second_admin(
            session, action, "payment", payment.id, payment.amount_inr_paise, why, admin, now
        )
    message = _execute(session, action, payment.id, f"admin:{admin.id}", why, admin, now)
    return Outcome(True, None, message)


def file_for_second_admin(
    session: Session,
    action: str,
    subject_type: str,
    subject_id: str,
    amount_paise: int | None,
    why: str,
    admin: User,
    now: datetime,
) -> Outcome:
    """Record ``action`` as waiting for another admin (one pending request per action), audited."""
    approval = PendingApproval(
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        amount_paise=amount_paise,
        reason=why,
        status=ApprovalStatus.PENDING,
        requested_by=admin.id,
        requested_at=now,
    )
    try:
        with session.begin_nested():
            session.add(approval)
            session.flush()
    except IntegrityError:
        raise ActionRefused(
            "this action already waits for a second admin", code="approval_pending"
        ) from None
    record(
        session,
        actor=f"admin:{admin.id}",
        action="admin.approval_requested",
        subject_type=subject_type,
        subject_id=subject_id,
        data={"action": action, "approval_id": approval.id, "reason": why},
    )
    return Outcome(False, approval, "waiting for a second admin's approval")


def _pending(session: Session, approval_id: int) -> PendingApproval:
    approval = session.get(PendingApproval, approval_id, with_for_update=True)
    if approval is None:
        raise AdminNotFound("no such approval request")
    if approval.status is not ApprovalStatus.PENDING:
        raise ApprovalNotPending(f"this request is already {approval.status.value}")
    return approval


def approve(session: Session, approval_id: int, *, admin: User, now: datetime) -> Outcome:
    """A second admin approves: the action runs now (or is recorded as failed)."""
    _check_admin(admin)
    approval = _pending(session, approval_id)
    if approval.requested_by == admin.id:
        raise SecondAdminRequired("another admin must approve your own request")
    actor = f"admin:{admin.id}"
    approval.decided_by = admin.id
    approval.decided_at = now
    who = f"{actor} approving admin:{approval.requested_by}"
    try:
        if approval.subject_type == "withdrawal":
            # Imported here: that module builds on this one's guards.
            from wallet.admin import withdrawal_review

            message = withdrawal_review.execute(
                session, approval.action, approval.subject_id, who, approval.reason, now
            )
        else:
            message = _execute(
                session, approval.action, approval.subject_id, who, approval.reason, admin, now
            )
        approval.status = ApprovalStatus.EXECUTED
    except WalletError as exc:
        message = exc.message
        approval.status = ApprovalStatus.FAILED
    approval.result = message[:1000]
    record(
        session,
        actor=actor,
        action="admin.approval_approved",
        subject_type=approval.subject_type,
        subject_id=approval.subject_id,
        data={"approval_id": approval.id, "action": approval.action, "result": approval.result},
    )
    session.flush()
    return Outcome(approval.status is ApprovalStatus.EXECUTED, approval, message)


def reject(
    session: Session, approval_id: int, *, admin: User, reason: object, now: datetime
) -> PendingApproval:
    """Decline (or, for the requester, withdraw) a pending request."""
    _check_admin(admin)
    why = _reason(reason)
    approval = _pending(session, approval_id)
    approval.status = ApprovalStatus.REJECTED
    approval.decided_at = now
    if admin.id != approval.requested_by:
        approval.decided_by = admin.id
    approval.result = why
    record(
        session,
        actor=f"admin:{admin.id}",
        action="admin.approval_rejected",
        subject_type=approval.subject_type,
        subject_id=approval.subject_id,
        data={"approval_id": approval.id, "reason": why},
    )
    session.flush()
    return approval
