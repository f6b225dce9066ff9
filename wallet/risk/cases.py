"""The admin review queue: one open case per (kind, subject), payments join it.

Kinds: ``sanctions_hit``, ``structuring``, ``rapid_deposit_spend``,
``fan_in``. A second flag on the same subject while its case is open adds
the payment to that case rather than opening another, so an admin sees
one pattern once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.db.models import Role, User
from wallet.risk.errors import CaseAlreadyResolved, CaseNotFound, ReviewRefused
from wallet.risk.models import CaseStatus, ReviewCase


def _open_case(session: Session, kind: str, subject: str) -> ReviewCase | None:
    return session.scalars(
        select(ReviewCase)
        .where(
            ReviewCase.kind == kind,
            ReviewCase.subject == subject,
            ReviewCase.status == CaseStatus.OPEN,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def _join(case: ReviewCase, payment_id: str | None, details: dict[str, Any], now: datetime) -> None:
    if payment_id is not None and payment_id not in case.payment_ids:
        case.payment_ids = [*case.payment_ids, payment_id]  # a new list: JSON change tracking
    case.details = {**case.details, "latest": details}
    case.updated_at = now


def raise_case(
    session: Session,
    *,
    kind: str,
    subject: str,
    payment_id: str | None,
    details: dict[str, Any],
    now: datetime,
) -> ReviewCase:
    """Open a case, or add ``payment_id`` to the open one for (kind, subject)."""
    case = _open_case(session, kind, subject)
    if case is None:
        try:
            with session.begin_nested():
                case = ReviewCase(
                    kind=kind,
                    subject=subject,
                    payment_ids=[payment_id] if payment_id else [],
                    details={"first": details},
                    status=CaseStatus.OPEN,
                    created_at=now,
                    updated_at=now,
                )
                session.add(case)
                session.flush()
        except IntegrityError:
            # Another transaction opened it first (the partial unique index).
            case = _open_case(session, kind, subject)
            if case is None:
                raise
            _join(case, payment_id, details, now)
    else:
        _join(case, payment_id, details, now)
    session.flush()
    record(
        session,
        actor="system:risk",
        action="review_case.flag",
        subject_type="review_case",
        subject_id=case.id,
        data={"kind": kind, "subject": subject, "payment_id": payment_id},
    )
    return case


def list_cases(
    session: Session, *, status: CaseStatus | None = CaseStatus.OPEN
) -> list[ReviewCase]:
    """The queue, oldest first (``status=None``: every case)."""
    query = select(ReviewCase).order_by(ReviewCase.created_at, ReviewCase.id)
    if status is not None:
        query = query.where(ReviewCase.status == status)
    return list(session.scalars(query))


def resolve_case(
    session: Session, case_id: int, *, admin: User, resolution: str, now: datetime
) -> ReviewCase:
    """Close a case with the admin's finding (audited). Clearing or refunding the
    payments it names goes through the payment state machine separately."""
    if admin.role is not Role.ADMIN:
        raise ReviewRefused("only an admin can resolve review cases")
    if not resolution.strip():
        raise ReviewRefused("a resolution needs a reason", code="review_reason_required")
    case = session.get(ReviewCase, case_id, with_for_update=True)
    if case is None:
        raise CaseNotFound(f"no review case {case_id}")
    if case.status is CaseStatus.RESOLVED:
        raise CaseAlreadyResolved(f"review case {case_id} is already resolved")
    case.status = CaseStatus.RESOLVED
    case.resolved_at = now
    case.resolved_by = f"admin:{admin.id}"
    case.resolution = resolution[:2000]
    case.updated_at = now
    session.flush()
    record(
        session,
        actor=f"admin:{admin.id}",
        action="review_case.resolve",
        subject_type="review_case",
        subject_id=case.id,
        data={"kind": case.kind, "resolution": case.resolution},
    )
    return case
