"""Withdrawals parked for review: hold the coins, wait for an admin, then send or give back.

When the risk engine (:func:`wallet.risk.assess_withdrawal`) answers
"hold for review" — the destination is on the sanctions list, or the AML
score reached ``hold_score`` — the withdrawal is not refused. It is
recorded ``held_for_review`` with the same ledger hold a normal request
places (``withdrawal:<key>``, see :mod:`wallet.custody.withdrawals`), so the
coins can neither leave nor pay a vendor while an admin looks. Nothing is
signed: :func:`wallet.custody.withdrawals.execute_withdrawal` only signs
``held`` rows.

Two outcomes, each a guarded transition under the withdrawal's row lock
(only from ``held_for_review``, so two admins acting at once move it once)
and each audited in the same transaction:

- :func:`release_withdrawal` — ``held_for_review → held``: into the
  signer's queue; custody signs and broadcasts it once per key.
- :func:`reject_withdrawal` — ``held_for_review → rejected``: the hold is
  voided (the coins are available to the payer again; a hold never posted
  an entry, so there is nothing to reverse) and the risk-limit reservation
  is given back.

The two-admin rule and the admin's identity live in
:mod:`wallet.admin.withdrawal_review`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.custody.withdrawals import hold_ref
from wallet.errors import WalletError
from wallet.ledger import place_hold, user_wallet, void_hold
from wallet.risk.engine import withdrawal_ref
from wallet.risk.errors import ReservationNotFound
from wallet.risk.limits import release_reservation

SUBJECT = "withdrawal"


class WithdrawalNotParked(WalletError):
    """The withdrawal is not (or no longer) waiting for review."""

    code = "not_held"
    http_status = 409


class WithdrawalNotFound(WalletError):
    code = "not_found"
    http_status = 404


def park_withdrawal(
    session: Session,
    *,
    key: str,
    user_id: int,
    chain: str,
    asset: str,
    to_address: str,
    amount_minor: int,
    amount_inr_paise: int,
    reasons: Sequence[str],
    case_ids: Sequence[int],
) -> Withdrawal:
    """Hold the coins and record the withdrawal ``held_for_review`` (caller's transaction).

    ``amount_inr_paise`` is its value when requested (the two-admin rule
    reads it); ``reasons`` and ``case_ids`` are the risk decision's, shown
    to admins only. An unaffordable amount raises ``insufficient_funds``
    before anything is recorded.
    """
    place_hold(session, user_wallet(user_id, asset), asset, amount_minor, ref=hold_ref(key))
    row = Withdrawal(
        key=key,
        user_id=user_id,
        chain=chain,
        asset=asset,
        to_address=to_address,
        amount_minor=amount_minor,
        status=WithdrawalStatus.HELD_FOR_REVIEW,
        detail={
            "amount_inr_paise": str(amount_inr_paise),
            "review_reasons": ",".join(reasons),
            "review_cases": ",".join(str(c) for c in case_ids),
        },
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor="system:risk",
        action="withdrawal.held_for_review",
        subject_type=SUBJECT,
        subject_id=row.id,
        data={
            "user_id": user_id,
            "asset": asset,
            "amount_minor": str(amount_minor),
            "amount_inr_paise": amount_inr_paise,
            "reasons": list(reasons),
            "cases": list(case_ids),
        },
    )
    return row


def inr_value(row: Withdrawal) -> int | None:
    """Paise the withdrawal was worth when parked (None if unknown)."""
    raw = (row.detail or {}).get("amount_inr_paise")
    return int(raw) if raw and raw.isdigit() else None


def review_reasons(row: Withdrawal) -> list[str]:
    raw = (row.detail or {}).get("review_reasons") or ""
    return [r for r in raw.split(",") if r]


def parked_withdrawals(session: Session, limit: int = 200) -> list[Withdrawal]:
    """The queue: withdrawals held for review, oldest first."""
    return list(
        session.scalars(
            select(Withdrawal)
            .where(Withdrawal.status == WithdrawalStatus.HELD_FOR_REVIEW)
            .order_by(Withdrawal.created_at, Withdrawal.id)
            .limit(limit)
        )
    )


def lock_withdrawal(session: Session, withdrawal_id: int) -> Withdrawal:
    """The row, locked and re-read (a concurrent decision is seen, not overwritten)."""
    row = session.scalars(
        select(Withdrawal)
        .where(Withdrawal.id == withdrawal_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise WithdrawalNotFound("no such withdrawal")
    return row


def _parked(session: Session, withdrawal_id: int) -> Withdrawal:
    row = lock_withdrawal(session, withdrawal_id)
    if row.status is not WithdrawalStatus.HELD_FOR_REVIEW:
        raise WithdrawalNotParked(f"the withdrawal is {row.status.value}, not held for review")
    return row


def release_withdrawal(
    session: Session, withdrawal_id: int, *, actor: str, reason: str
) -> Withdrawal:
    """``held_for_review → held``: the signer's queue takes it (the hold stays)."""
    row = _parked(session, withdrawal_id)
    row.status = WithdrawalStatus.HELD
    row.note = f"review cleared: {reason}"[:1000]
    session.flush()
    record(
        session,
        actor=actor,
        action="withdrawal.review_released",
        subject_type=SUBJECT,
        subject_id=row.id,
        data={"reason": reason, "from": "held_for_review", "to": "held"},
    )
    return row


def reject_withdrawal(
    session: Session, withdrawal_id: int, *, actor: str, reason: str, now: datetime
) -> Withdrawal:
    """``held_for_review → rejected``: void the hold, give the risk limits back."""
    row = _parked(session, withdrawal_id)
    void_hold(session, hold_ref(row.key))
    try:
        released = release_reservation(session, withdrawal_ref(row.key), now=now)
    except ReservationNotFound:
        released = False  # a sanctions hit reserves no limits
    row.status = WithdrawalStatus.REJECTED
    row.error_code = "review_rejected"
    row.note = f"rejected after review: {reason}"[:1000]
    session.flush()
    record(
        session,
        actor=actor,
        action="withdrawal.review_rejected",
        subject_type=SUBJECT,
        subject_id=row.id,
        data={
            "reason": reason,
            "from": "held_for_review",
            "to": "rejected",
            "limits_released": released,
        },
    )
    return row
