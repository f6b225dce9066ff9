"""Users as an operator sees them: status, KYC tier, limits, freeze, audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from wallet.admin.errors import ActionRefused, AdminNotFound, NotAnAdmin
from wallet.audit import record
from wallet.db.models.ops import AuditLog
from wallet.db.models.users import Merchant, MerchantStatus, Role, User, UserStatus
from wallet.risk.config import RiskConfig
from wallet.risk.limits import Period, usage
from wallet.risk.models import KycProfile


@dataclass(frozen=True, slots=True)
class UserView:
    user: User
    merchant: Merchant | None
    kyc: KycProfile | None
    daily_limit_paise: int | None
    per_payment_limit_paise: int | None
    used_today_paise: int
    used_today_count: int


def search_users(session: Session, q: str | None, *, limit: int = 100) -> list[User]:
    query = select(User).order_by(User.id.desc()).limit(limit)
    if q:
        needle = q.strip().lower()[:100]
        conditions = [User.email.contains(needle)]
        if needle.isdigit():
            conditions.append(User.id == int(needle))
        query = query.where(or_(*conditions))
    return list(session.scalars(query))


def user_view(session: Session, user_id: int, *, config: RiskConfig, now: datetime) -> UserView:
    user = session.get(User, user_id)
    if user is None:
        raise AdminNotFound("no such user")
    merchant = session.scalars(select(Merchant).where(Merchant.user_id == user.id)).one_or_none()
    count, paise = usage(session, "user", str(user.id), Period.DAY, now)
    return UserView(
        user=user,
        merchant=merchant,
        kyc=session.get(KycProfile, user.id),
        daily_limit_paise=config.tier_daily_limit_paise.get(user.kyc_tier),
        per_payment_limit_paise=config.tier_per_payment_limit_paise.get(user.kyc_tier),
        used_today_paise=paise,
        used_today_count=count,
    )


def set_frozen(
    session: Session, user_id: int, frozen: bool, *, admin: User, reason: object
) -> User:
    """Freeze (no new payments or withdrawals; balances stay) or unfreeze, audited."""
    if admin.role is not Role.ADMIN:
        raise NotAnAdmin("only admins may freeze accounts")
    if not isinstance(reason, str) or not reason.strip():
        raise ActionRefused("say why (the reason is audited)", code="reason_required")
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise AdminNotFound("no such user")
    if user.id == admin.id:
        raise ActionRefused("you cannot freeze your own account", code="self_action")
    user.status = UserStatus.FROZEN if frozen else UserStatus.ACTIVE
    record(
        session,
        actor=f"admin:{admin.id}",
        action="user.frozen" if frozen else "user.unfrozen",
        subject_type="user",
        subject_id=user.id,
        data={"reason": reason.strip()[:1000]},
    )
    session.flush()
    return user


def set_merchant_status(
    session: Session, merchant_id: int, status: MerchantStatus, *, admin: User, reason: object
) -> Merchant:
    if admin.role is not Role.ADMIN:
        raise NotAnAdmin("only admins may change a merchant's status")
    if not isinstance(reason, str) or not reason.strip():
        raise ActionRefused("say why (the reason is audited)", code="reason_required")
    merchant = session.get(Merchant, merchant_id, with_for_update=True)
    if merchant is None:
        raise AdminNotFound("no such merchant")
    merchant.status = status
    record(
        session,
        actor=f"admin:{admin.id}",
        action=f"merchant.{status.value}",
        subject_type="merchant",
        subject_id=merchant.id,
        data={"reason": reason.strip()[:1000]},
    )
    session.flush()
    return merchant


def audit_log(
    session: Session,
    *,
    actor: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    action: str | None = None,
    limit: int = 200,
) -> list[AuditLog]:
    """Newest first, filtered by exact actor / subject / action prefix."""
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(max(1, min(limit, 1000)))
    if actor:
        query = query.where(AuditLog.actor == actor)
    if subject_type:
        query = query.where(AuditLog.subject_type == subject_type)
    if subject_id:
        query = query.where(AuditLog.subject_id == subject_id)
    if action:
        query = query.where(AuditLog.action.startswith(action))
    return list(session.scalars(query))
