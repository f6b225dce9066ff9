"""The review queue's withdrawals: approve (send) or reject (give the coins back).

The withdrawal half of :mod:`wallet.admin.review`, with the same rules:
each action needs a reason and is audited; above
``two_admin_threshold_paise`` (the withdrawal's rupee value when it was
requested; unknown counts as above) it waits in ``pending_approvals``
until a *different* admin approves, and :func:`wallet.admin.review.approve`
then runs it through :func:`execute`. The state changes themselves are
:func:`wallet.custody.withdrawal_review.release_withdrawal` and
:func:`~wallet.custody.withdrawal_review.reject_withdrawal`, guarded under
the withdrawal's row lock, so two admins approving at once release it once
and the signer sends it once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from wallet.admin.config import AdminConfig
from wallet.admin.errors import ActionRefused, AdminNotFound
from wallet.admin.review import Outcome, check_admin, file_for_second_admin, require_reason
from wallet.custody.models import Withdrawal
from wallet.custody.withdrawal_review import (
    SUBJECT,
    inr_value,
    reject_withdrawal,
    release_withdrawal,
)
from wallet.db.models.users import User

RELEASE = "withdrawal.release"
REJECT = "withdrawal.reject"
ACTIONS = {RELEASE: "Approve and send", REJECT: "Reject (coins back to the payer)"}


def _needs_second_admin(row: Withdrawal, config: AdminConfig) -> bool:
    value = inr_value(row)
    return value is None or value > config.two_admin_threshold_paise


def execute(
    session: Session, action: str, subject_id: str, actor: str, reason: str, now: datetime
) -> str:
    """Carry out ``action`` on withdrawal ``subject_id`` now (in a savepoint)."""
    if action not in ACTIONS:
        raise ActionRefused(f"unknown action {action!r}", code="unknown_action")
    if not subject_id.isdigit():
        raise AdminNotFound("no such withdrawal")
    with session.begin_nested():
        if action == RELEASE:
            release_withdrawal(session, int(subject_id), actor=actor, reason=reason)
            return "released to the signer"
        reject_withdrawal(session, int(subject_id), actor=actor, reason=reason, now=now)
        return "rejected; the coins are back on the payer's balance"


def request_action(
    session: Session,
    action: str,
    withdrawal_id: int,
    *,
    admin: User,
    reason: object,
    config: AdminConfig,
    now: datetime,
) -> Outcome:
    """Approve or reject now, or file it for a second admin above the threshold."""
    check_admin(admin)
    why = require_reason(reason)
    if action not in ACTIONS:
        raise ActionRefused(f"unknown action {action!r}", code="unknown_action")
    row = session.get(Withdrawal, withdrawal_id)
    if row is None:
        raise AdminNotFound("no such withdrawal")
    actor = f"admin:{admin.id}"
    if not _needs_second_admin(row, config):
        return Outcome(True, None, execute(session, action, str(row.id), actor, why, now))
    return file_for_second_admin(
        session, action, SUBJECT, str(row.id), inr_value(row), why, admin, now
    )
