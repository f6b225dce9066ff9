"""A merchant's profile and payout VPA, with a cooling-off period for changes.

The first VPA (set up at sign-up) is active at once: there is nothing to
divert yet. A *change* is validated the same way (format, then RazorpayX's
fund-account validation, whose registered name the merchant confirms), but
waits ``vpa_cooling_off_seconds`` before payouts use it, and the merchant is
notified at request and at activation — so a hijacked session cannot
redirect today's takings unnoticed. Until then ``merchants.upi_vpa`` (what
payouts and payment attribution read) keeps the old VPA.

Network calls (:func:`check_vpa`) run outside any transaction; the
recording functions run in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.db.models.ops import OutboxMessage
from wallet.db.models.users import Merchant, MerchantStatus, Role, User
from wallet.merchants.config import MerchantConfig
from wallet.merchants.errors import (
    InvalidInput,
    NotAMerchant,
    VpaCheckUnavailable,
    VpaRejected,
)
from wallet.merchants.models import MerchantPayoutAccount, PayoutAccountStatus
from wallet.payouts.errors import PayoutError, PayoutInvalidRequest, PayoutInvalidVpa
from wallet.payouts.razorpayx import VpaValidation
from wallet.upi import validate_vpa

NOTIFY_TOPIC = "notify.merchant"
MAX_NAME = 100


class VpaValidator(Protocol):
    """What :func:`check_vpa` needs: RazorpayX's composite VPA validation."""

    def validate_vpa(
        self, vpa: str, *, contact_name: str, reference_id: str | None = None
    ) -> VpaValidation: ...


@dataclass(frozen=True, slots=True)
class VpaCheck:
    """A VPA RazorpayX accepted, and the name its bank registered for it."""

    vpa: str
    registered_name: str | None
    fund_account_id: str | None


def clean_display_name(name: object) -> str:
    """A shop name of 2–100 printable characters."""
    if not isinstance(name, str) or not 2 <= len(name.strip()) <= MAX_NAME:
        raise InvalidInput(f"the display name must be 2–{MAX_NAME} characters")
    value = " ".join(name.split())
    if any(not ch.isprintable() for ch in value):
        raise InvalidInput("the display name contains control characters")
    return value


def check_vpa(
    validator: VpaValidator, vpa: object, *, contact_name: str, reference_id: str | None = None
) -> VpaCheck:
    """Format check, then RazorpayX's fund-account validation (a network call)."""
    if not isinstance(vpa, str):
        raise InvalidInput("the VPA must be text", code="upi_invalid_vpa")
    canonical = validate_vpa(vpa)
    try:
        result = validator.validate_vpa(
            canonical, contact_name=contact_name[:50], reference_id=reference_id
        )
    except (PayoutInvalidVpa, PayoutInvalidRequest) as exc:
        raise VpaRejected(f"RazorpayX refused this VPA: {exc.message}") from None
    except PayoutError:
        raise VpaCheckUnavailable(
            "could not reach the payout provider to check the VPA; try again shortly"
        ) from None
    if not result.valid:
        raise VpaRejected("this VPA does not exist or cannot receive payouts")
    return VpaCheck(canonical, result.registered_name, result.fund_account_id)


def merchant_for_user(session: Session, user_id: int) -> Merchant | None:
    return session.scalars(select(Merchant).where(Merchant.user_id == user_id)).one_or_none()


def require_merchant(session: Session, user_id: int) -> Merchant:
    merchant = merchant_for_user(session, user_id)
    if merchant is None:
        raise NotAMerchant("set up your merchant profile first")
    return merchant


def _notify(session: Session, merchant: Merchant, key: str, subject: str, body: str) -> None:
    """Queue a message to the merchant (the notifier delivers the outbox topic)."""
    exists = session.scalars(select(OutboxMessage.id).where(OutboxMessage.key == key)).first()
    if exists is None:
        session.add(
            OutboxMessage(
                topic=NOTIFY_TOPIC,
                key=key,
                payload={"user_id": merchant.user_id, "subject": subject, "body": body},
            )
        )
        session.flush()


def create_profile(
    session: Session, user: User, display_name: str, check: VpaCheck, *, now: datetime
) -> Merchant:
    """The merchant row for a merchant user, active with its first payout VPA."""
    if user.role is not Role.MERCHANT:
        raise NotAMerchant("only merchant accounts have a merchant profile")
    if merchant_for_user(session, user.id) is not None:
        raise InvalidInput("the merchant profile already exists", code="merchant_exists")
    merchant = Merchant(
        user_id=user.id,
        display_name=clean_display_name(display_name),
        upi_vpa=check.vpa,
        status=MerchantStatus.ACTIVE,
        created_at=now,
    )
    session.add(merchant)
    session.flush()
    session.add(
        MerchantPayoutAccount(
            merchant_id=merchant.id,
            vpa=check.vpa,
            registered_name=check.registered_name,
            fund_account_id=check.fund_account_id,
            status=PayoutAccountStatus.ACTIVE,
            requested_by=f"user:{user.id}",
            requested_at=now,
            effective_at=now,
            activated_at=now,
        )
    )
    record(
        session,
        actor=f"user:{user.id}",
        action="merchant.created",
        subject_type="merchant",
        subject_id=merchant.id,
        data={"vpa": check.vpa, "registered_name": check.registered_name},
    )
    session.flush()
    return merchant


def update_display_name(session: Session, merchant: Merchant, name: str, *, actor: str) -> None:
    merchant.display_name = clean_display_name(name)
    record(
        session,
        actor=actor,
        action="merchant.profile_updated",
        subject_type="merchant",
        subject_id=merchant.id,
        data={"display_name": merchant.display_name},
    )
    session.flush()


def pending_change(session: Session, merchant_id: int) -> MerchantPayoutAccount | None:
    return session.scalars(
        select(MerchantPayoutAccount).where(
            MerchantPayoutAccount.merchant_id == merchant_id,
            MerchantPayoutAccount.status == PayoutAccountStatus.PENDING,
        )
    ).first()


def active_account(session: Session, merchant_id: int) -> MerchantPayoutAccount | None:
    return session.scalars(
        select(MerchantPayoutAccount).where(
            MerchantPayoutAccount.merchant_id == merchant_id,
            MerchantPayoutAccount.status == PayoutAccountStatus.ACTIVE,
        )
    ).first()


def request_vpa_change(
    session: Session,
    merchant: Merchant,
    check: VpaCheck,
    *,
    actor: str,
    now: datetime,
    config: MerchantConfig,
) -> MerchantPayoutAccount:
    """Schedule ``check.vpa`` to receive payouts after the cooling-off period.

    A newer request replaces an older pending one; the VPA that is already
    active is refused (``vpa_unchanged``).
    """
    current = pending_change(session, merchant.id)
    if current is not None:
        current.status = PayoutAccountStatus.CANCELLED
        current.cancelled_at = now
    if check.vpa == merchant.upi_vpa:
        raise InvalidInput("this VPA already receives your payouts", code="vpa_unchanged")
    row = MerchantPayoutAccount(
        merchant_id=merchant.id,
        vpa=check.vpa,
        registered_name=check.registered_name,
        fund_account_id=check.fund_account_id,
        status=PayoutAccountStatus.PENDING,
        requested_by=actor,
        requested_at=now,
        effective_at=now + timedelta(seconds=config.vpa_cooling_off_seconds),
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor,
        action="merchant.vpa_change_requested",
        subject_type="merchant",
        subject_id=merchant.id,
        data={
            "from": merchant.upi_vpa,
            "to": check.vpa,
            "effective_at": row.effective_at.isoformat(),
        },
    )
    _notify(
        session,
        merchant,
        f"vpa_change:{row.id}:requested",
        "Your payout VPA is changing",
        f"Payouts will go to {check.vpa} ({check.registered_name or 'name not reported'}) from "
        f"{row.effective_at:%Y-%m-%d %H:%M} UTC. If this was not you, cancel it and change "
        "your password now.",
    )
    return row


def cancel_vpa_change(session: Session, merchant: Merchant, *, actor: str, now: datetime) -> bool:
    """Cancel the pending change, if any; True if one was cancelled."""
    row = pending_change(session, merchant.id)
    if row is None:
        return False
    row.status = PayoutAccountStatus.CANCELLED
    row.cancelled_at = now
    record(
        session,
        actor=actor,
        action="merchant.vpa_change_cancelled",
        subject_type="merchant",
        subject_id=merchant.id,
        data={"vpa": row.vpa},
    )
    session.flush()
    return True


def apply_due_vpa_changes(
    session: Session, *, now: datetime, merchant_id: int | None = None
) -> list[int]:
    """Activate every pending change whose cooling-off ended; the merchants changed.

    Idempotent and safe to run from a schedule and from page loads alike:
    the merchant row is locked and the pending row re-checked.
    """
    query = select(MerchantPayoutAccount).where(
        MerchantPayoutAccount.status == PayoutAccountStatus.PENDING,
        MerchantPayoutAccount.effective_at <= now,
    )
    if merchant_id is not None:
        query = query.where(MerchantPayoutAccount.merchant_id == merchant_id)
    changed: list[int] = []
    for row in session.scalars(query.with_for_update()).all():
        merchant = session.get_one(Merchant, row.merchant_id, with_for_update=True)
        old = active_account(session, merchant.id)
        if old is not None:
            old.status = PayoutAccountStatus.SUPERSEDED
        previous = merchant.upi_vpa
        merchant.upi_vpa = row.vpa
        row.status = PayoutAccountStatus.ACTIVE
        row.activated_at = now
        record(
            session,
            actor="system:merchants",
            action="merchant.vpa_changed",
            subject_type="merchant",
            subject_id=merchant.id,
            data={"from": previous, "to": row.vpa},
        )
        _notify(
            session,
            merchant,
            f"vpa_change:{row.id}:active",
            "Your new payout VPA is active",
            f"Payouts now go to {row.vpa}.",
        )
        changed.append(merchant.id)
    session.flush()
    return changed


def payout_account_history(session: Session, merchant_id: int) -> list[MerchantPayoutAccount]:
    return list(
        session.scalars(
            select(MerchantPayoutAccount)
            .where(MerchantPayoutAccount.merchant_id == merchant_id)
            .order_by(MerchantPayoutAccount.id.desc())
        )
    )
