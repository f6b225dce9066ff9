"""KYC tiers: what a user proved about themselves, and who checked it.

- Tier 0: e-mail only (sign-up). Smallest limits.
- Tier 1: PAN, full name and date of birth given, PAN format checked.
  Granted on submission (the PAN is not yet verified against the Income
  Tax department: that needs a licensed verification API).
- Tier 2: full KYC reviewed by an admin with :func:`approve_kyc`. An admin
  can never approve their own account; every decision is audited.

Changing the PAN, name or DOB after an approval drops the user back to
tier 1 until an admin reviews the new details.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.db.models import Role, User, UserStatus
from wallet.risk.errors import (
    InvalidKycDetails,
    InvalidPan,
    KycApprovalRefused,
    PanInUse,
)
from wallet.risk.limits import IST
from wallet.risk.models import KycProfile, KycStatus

# The 4th character of a PAN says what kind of holder it belongs to.
PAN_HOLDER_TYPES = {
    "A": "association of persons",
    "B": "body of individuals",
    "C": "company",
    "F": "firm / limited liability partnership",
    "G": "government",
    "H": "Hindu undivided family",
    "J": "artificial juridical person",
    "L": "local authority",
    "P": "individual",
    "T": "trust",
}
_PAN = re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]")
_NAME = re.compile(r"[^\W\d_]+(?:[ .'\-][^\W\d_]+)*\.?")
MIN_AGE_YEARS = 18
MAX_TIER = 2


def validate_pan(pan: object) -> str:
    """The PAN in canonical upper case: ``AAAAA9999A``, 4th letter a holder type."""
    if not isinstance(pan, str):
        raise InvalidPan("the PAN must be text")
    value = pan.strip().upper()
    if _PAN.fullmatch(value) is None:
        raise InvalidPan("a PAN is five letters, four digits and a letter (AAAAA9999A)")
    if value[3] not in PAN_HOLDER_TYPES:
        raise InvalidPan(f"{value[3]!r} is not a PAN holder type")
    return value


def mask_pan(pan: str) -> str:
    """``ABCPE1234F`` → ``ABCPE****F``: enough to tell PANs apart in an audit row."""
    return pan[:5] + "****" + pan[9:]


def _validate_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidKycDetails("the name must be text")
    value = " ".join(name.split())
    if not 2 <= len(value) <= 200 or _NAME.fullmatch(value) is None:
        raise InvalidKycDetails("the name must be 2–200 letters, spaces, dots, hyphens")
    return value


def _validate_dob(dob: object, now: datetime) -> date:
    if not isinstance(dob, date) or isinstance(dob, datetime):
        raise InvalidKycDetails("the date of birth must be a date")
    today = now.astimezone(IST).date()
    years = today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))
    if dob > today or years > 130:
        raise InvalidKycDetails("the date of birth is not plausible")
    if years < MIN_AGE_YEARS:
        raise InvalidKycDetails(f"users must be at least {MIN_AGE_YEARS} years old")
    return dob


def _lock_user(session: Session, user_id: int) -> User:
    return session.scalars(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def submit_kyc(
    session: Session,
    user: User,
    *,
    pan: str,
    full_name: str,
    date_of_birth: date,
    now: datetime,
) -> KycProfile:
    """Record the user's PAN, name and DOB and raise them to tier 1.

    Bad details raise (``invalid_pan``, ``invalid_kyc_details``,
    ``pan_in_use``) and change nothing.
    """
    pan_value = validate_pan(pan)
    name = _validate_name(full_name)
    dob = _validate_dob(date_of_birth, now)
    locked = _lock_user(session, user.id)
    taken = session.scalar(
        select(KycProfile.user_id).where(KycProfile.pan == pan_value, KycProfile.user_id != user.id)
    )
    if taken is not None:
        raise PanInUse("this PAN is already registered to another account")
    profile = session.get(KycProfile, user.id)
    before = locked.kyc_tier
    try:
        with session.begin_nested():
            if profile is None:
                profile = KycProfile(user_id=user.id, submitted_at=now)
                session.add(profile)
            changed = (profile.pan, profile.full_name, profile.date_of_birth) != (
                pan_value,
                name,
                dob,
            )
            if changed:
                profile.pan, profile.full_name, profile.date_of_birth = pan_value, name, dob
                profile.status = KycStatus.SUBMITTED
                profile.submitted_at = now
                profile.reviewed_at = profile.reviewed_by = None
                # New identity details undo an earlier review.
                locked.kyc_tier = 1
            session.flush()
    except IntegrityError:
        raise PanInUse("this PAN is already registered to another account") from None
    if changed:
        record(
            session,
            actor=f"user:{user.id}",
            action="kyc.submit",
            subject_type="user",
            subject_id=user.id,
            data={"pan": mask_pan(pan_value), "tier_from": before, "tier_to": locked.kyc_tier},
        )
    return profile


def _check_admin(admin: User, user: User) -> None:
    if admin.role is not Role.ADMIN or admin.status is not UserStatus.ACTIVE:
        raise KycApprovalRefused("only an active admin can review KYC")
    if admin.id == user.id:
        raise KycApprovalRefused("an admin cannot review their own KYC", code="kyc_self_approval")


def approve_kyc(
    session: Session, admin: User, user: User, tier: int, *, now: datetime, note: str = ""
) -> User:
    """Set ``user``'s KYC tier after an admin's review (audited).

    Refused (``kyc_approval_refused``, or ``kyc_self_approval``) unless
    ``admin`` is an active admin other than ``user``, ``tier`` is 1 or 2,
    and the user has submitted their details.
    """
    _check_admin(admin, user)
    if isinstance(tier, bool) or not isinstance(tier, int) or not 1 <= tier <= MAX_TIER:
        raise KycApprovalRefused(f"tier must be 1..{MAX_TIER}")
    locked = _lock_user(session, user.id)
    profile = session.get(KycProfile, user.id, with_for_update=True)
    if profile is None:
        raise KycApprovalRefused("the user has not submitted KYC details")
    before = locked.kyc_tier
    locked.kyc_tier = tier
    profile.status = KycStatus.APPROVED if tier == MAX_TIER else KycStatus.SUBMITTED
    profile.reviewed_at = now
    profile.reviewed_by = admin.id
    session.flush()
    record(
        session,
        actor=f"admin:{admin.id}",
        action="kyc.approve",
        subject_type="user",
        subject_id=user.id,
        data={"tier_from": before, "tier_to": tier, "note": note[:500]},
    )
    return locked


def reject_kyc(
    session: Session, admin: User, user: User, *, now: datetime, reason: str
) -> KycProfile:
    """An admin refuses the full KYC: the user stays at (or returns to) tier 1."""
    _check_admin(admin, user)
    if not reason.strip():
        raise KycApprovalRefused("a rejection needs a reason")
    locked = _lock_user(session, user.id)
    profile = session.get(KycProfile, user.id, with_for_update=True)
    if profile is None:
        raise KycApprovalRefused("the user has not submitted KYC details")
    before = locked.kyc_tier
    locked.kyc_tier = min(locked.kyc_tier, 1)
    profile.status = KycStatus.REJECTED
    profile.reviewed_at = now
    profile.reviewed_by = admin.id
    session.flush()
    record(
        session,
        actor=f"admin:{admin.id}",
        action="kyc.reject",
        subject_type="user",
        subject_id=user.id,
        data={"tier_from": before, "tier_to": locked.kyc_tier, "reason": reason[:500]},
    )
    return profile
