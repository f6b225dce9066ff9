"""The audit log: who did what to which object, written in the same transaction.

Rows are append-only (PostgreSQL refuses UPDATE and DELETE on
``audit_log``). ``actor`` names a person or a process, e.g. ``user:42``,
``admin:3``, ``system:settlement``, ``webhook:razorpayx``. Never put secrets
in ``data``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.db.models.ops import AuditLog


def entry(
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    data: dict[str, Any] | None = None,
) -> AuditLog:
    """One audit row, not yet added: for callers that write several in one flush."""
    return AuditLog(
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        data=dict(data or {}),
    )


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    data: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit row (flushed, so it fails here if it is invalid)."""
    row = entry(
        actor=actor, action=action, subject_type=subject_type, subject_id=subject_id, data=data
    )
    session.add(row)
    session.flush()
    return row


def trail(session: Session, subject_type: str, subject_id: str | int) -> list[AuditLog]:
    """Every audit row about one object, oldest first."""
    return list(
        session.scalars(
            select(AuditLog)
            .where(AuditLog.subject_type == subject_type, AuditLog.subject_id == str(subject_id))
            .order_by(AuditLog.id)
        )
    )
