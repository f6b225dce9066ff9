"""Server-side sign-in sessions: created at login, checked on every request.

The browser holds only a random session token; the server keeps its hash,
so signing out (here or everywhere) takes effect at once, whatever copies
of the cookie exist. A new token is minted at every sign-in, which defeats
session fixation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wallet import audit
from wallet.accounts import passwords
from wallet.accounts.errors import InvalidCredentials, NotFound
from wallet.accounts.models import UserSession
from wallet.db.base import utcnow
from wallet.db.models.users import User

ABSOLUTE_LIFETIME = timedelta(days=14)
IDLE_TIMEOUT = timedelta(hours=24)
REAUTH_WINDOW = timedelta(minutes=5)
_TOUCH_EVERY = timedelta(minutes=1)  # fewer writes: last_seen is approximate
MAX_TOKEN_LENGTH = 128


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session row and its token: the token goes into the cookie, only."""

    row: UserSession
    token: str


def start_session(
    session: Session,
    user: User,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> NewSession:
    """Open a session for ``user`` who has just proved their password."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        authenticated_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_LIFETIME,
        ip=(ip or "")[:64] or None,
        user_agent=(user_agent or "")[:200] or None,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=f"user:{user.id}",
        action="auth.session_started",
        subject_type="user_session",
        subject_id=row.id,
        data={"ip": row.ip},
    )
    return NewSession(row, token)


def resolve_session(
    session: Session, token: object, *, now: datetime | None = None
) -> UserSession | None:
    """The live session for ``token``, or None if unknown, revoked or expired."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    now = now or utcnow()
    row = session.scalars(
        select(UserSession).where(UserSession.token_hash == hash_token(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at <= now or now - row.last_seen_at > IDLE_TIMEOUT:
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now
    return row


def end_session(session: Session, row: UserSession, *, now: datetime | None = None) -> None:
    """Sign this session out on the server."""
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        audit.record(
            session,
            actor=f"user:{row.user_id}",
            action="auth.session_ended",
            subject_type="user_session",
            subject_id=row.id,
        )


def end_all_sessions(
    session: Session, user_id: int, *, keep: UserSession | None = None, now: datetime | None = None
) -> int:
    """Sign ``user_id`` out everywhere (except ``keep``); returns how many ended."""
    now = now or utcnow()
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep.id)
    count = int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]
    audit.record(
        session,
        actor=f"user:{user_id}",
        action="auth.logged_out_everywhere",
        subject_type="user",
        subject_id=user_id,
        data={"sessions_ended": count},
    )
    return count


def active_sessions(
    session: Session, user_id: int, *, now: datetime | None = None
) -> list[UserSession]:
    """The user's own live sessions, newest first."""
    now = now or utcnow()
    rows = session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ).all()
    return [r for r in rows if now - r.last_seen_at <= IDLE_TIMEOUT]


def end_own_session(
    session: Session, user_id: int, session_id: int, *, now: datetime | None = None
) -> None:
    """Sign out one of the user's own sessions; another user's is "not found"."""
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user_id:
        raise NotFound("no such session")
    end_session(session, row, now=now)


def reauthenticate(
    session: Session, row: UserSession, user: User, password: object, *, now: datetime | None = None
) -> None:
    """Record that the password was typed again in this session just now."""
    if row.user_id != user.id or not isinstance(password, str):
        raise InvalidCredentials("wrong password")
    if not passwords.verify_password(user.password_hash, password):
        audit.record(
            session,
            actor=f"user:{user.id}",
            action="auth.reauth_failed",
            subject_type="user_session",
            subject_id=row.id,
        )
        raise InvalidCredentials("wrong password")
    row.authenticated_at = now or utcnow()


def recently_authenticated(
    row: UserSession, *, window: timedelta = REAUTH_WINDOW, now: datetime | None = None
) -> bool:
    """Did the user type their password in this session within ``window``?"""
    return (now or utcnow()) - row.authenticated_at <= window
