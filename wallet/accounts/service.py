"""Sign-up and sign-in: the rules, independent of the web framework.

Both run in the caller's transaction and change nothing when they refuse.
Sign-in is throttled per (account, client address) before the password is
checked (see :mod:`wallet.accounts.throttle`).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet import audit
from wallet.accounts import passwords, throttle
from wallet.accounts.errors import EmailTaken, InvalidCredentials, InvalidEmail, RoleNotAllowed
from wallet.db.base import utcnow
from wallet.db.models.users import Role, User

SELF_SERVICE_ROLES = frozenset({Role.PAYER, Role.MERCHANT})
MAX_EMAIL_LENGTH = 254
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def normalise_email(email: object) -> str:
    """The canonical (trimmed, lower-case) address, or :class:`InvalidEmail`."""
    if not isinstance(email, str):
        raise InvalidEmail("the e-mail address must be text")
    value = email.strip().lower()
    if len(value) > MAX_EMAIL_LENGTH or _EMAIL_RE.fullmatch(value) is None:
        raise InvalidEmail("enter an e-mail address like name@example.com")
    return value


def parse_role(role: object) -> Role:
    """A role a person may choose at sign-up (payer or merchant)."""
    try:
        value = Role(str(role)) if isinstance(role, str) else None
    except ValueError:
        value = None
    if value is None:
        raise RoleNotAllowed("role must be payer or merchant")
    if value not in SELF_SERVICE_ROLES:
        raise RoleNotAllowed("role must be payer or merchant")
    return value


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email)).one_or_none()


def sign_up(session: Session, email: str, password: str, role: object = Role.PAYER) -> User:
    """Create a payer or merchant with KYC tier 0 (admins are only seeded)."""
    address = normalise_email(email)
    chosen = parse_role(role)
    passwords.check_policy(password, email=address)
    if find_user_by_email(session, address) is not None:
        raise EmailTaken("an account with this e-mail already exists")
    user = User(email=address, password_hash=passwords.hash_password(password), role=chosen)
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:  # a concurrent sign-up with the same e-mail won
        raise EmailTaken("an account with this e-mail already exists") from None
    audit.record(
        session,
        actor=f"user:{user.id}",
        action="account.signed_up",
        subject_type="user",
        subject_id=user.id,
        data={"role": chosen.value},
    )
    return user


def create_user(session: Session, email: str, password: str, role: Role) -> User:
    """Create any user, admins included: for seeding and the operator CLI."""
    address = normalise_email(email)
    passwords.check_policy(password, email=address)
    if find_user_by_email(session, address) is not None:
        raise EmailTaken("an account with this e-mail already exists")
    user = User(email=address, password_hash=passwords.hash_password(password), role=role)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor="system:seed",
        action="account.created",
        subject_type="user",
        subject_id=user.id,
        data={"role": role.value},
    )
    return user


def authenticate(
    session: Session,
    email: object,
    password: object,
    *,
    client_ip: str,
    now: datetime | None = None,
) -> User:
    """The user whose password this is, or a refusal that says nothing more.

    Raises :class:`LoginThrottled` (with ``retry_after`` seconds) while this
    client must wait, :class:`InvalidCredentials` otherwise. A failure is
    recorded in the caller's transaction, so the caller must commit it even
    though it answers with an error.
    """
    now = now or utcnow()
    address = email.strip().lower() if isinstance(email, str) else ""
    secret = password if isinstance(password, str) else ""
    throttle.check_allowed(session, address, client_ip, now)
    user = find_user_by_email(session, address) if address else None
    if user is None:
        passwords.burn_verify_time(secret)
        ok = False
    else:
        ok = passwords.verify_password(user.password_hash, secret)
    if not ok or user is None:
        throttle.record_failure(session, address, client_ip, now)
        audit.record(
            session,
            actor=f"ip:{client_ip}",
            action="auth.login_failed",
            subject_type="user",
            subject_id=user.id if user is not None else "unknown",
        )
        raise InvalidCredentials("wrong e-mail or password")
    throttle.record_success(session, address, client_ip)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(secret)
    return user


def change_password(session: Session, user: User, new_password: str) -> None:
    """Set a new password (callers re-authenticate first and end other sessions)."""
    passwords.check_policy(new_password, email=user.email)
    user.password_hash = passwords.hash_password(new_password)
    audit.record(
        session,
        actor=f"user:{user.id}",
        action="account.password_changed",
        subject_type="user",
        subject_id=user.id,
    )
