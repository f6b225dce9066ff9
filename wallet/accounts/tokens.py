"""API bearer tokens: random, stored as a hash, shown to the owner once.

A token looks like ``tfw_<43 url-safe characters>`` (256 random bits). The
``tfw_`` prefix lets secret scanners recognise a leaked token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from wallet import audit
from wallet.accounts.errors import AccountError, NotFound
from wallet.accounts.models import ApiToken
from wallet.db.base import utcnow
from wallet.db.models.users import User

TOKEN_PREFIX = "tfw_"  # noqa: S105 - a public marker, not a secret
MAX_TOKENS_PER_USER = 50
_TOKEN_RE = re.compile(r"tfw_[A-Za-z0-9_\-]{43}")
_TOUCH_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``token`` is the only time the plain value exists."""

    row: ApiToken
    token: str


def issue_token(
    session: Session,
    user: User,
    name: str = "default",
    *,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """Create a token for ``user``; the caller shows ``token`` once and forgets it."""
    label = (name or "default").strip()[:100] or "default"
    live = session.scalars(
        select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    if len(live) >= MAX_TOKENS_PER_USER:
        raise AccountError("too many API tokens; revoke one first", code="too_many_tokens")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=label,
        prefix=token[: len(TOKEN_PREFIX) + 6],
        token_hash=hash_token(token),
        created_at=now or utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=f"user:{user.id}",
        action="auth.api_token_created",
        subject_type="api_token",
        subject_id=row.id,
        data={"name": label, "prefix": row.prefix},
    )
    return IssuedToken(row, token)


@cache
def _token_and_owner() -> Select[ApiToken, User]:
    """Built once: every API request runs it."""
    return (
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == bindparam("token_hash"))
    )


def authenticate_token(
    session: Session, token: object, *, now: datetime | None = None
) -> tuple[User, ApiToken] | None:
    """The owner of a live ``token``, or None (malformed, unknown, revoked, expired)."""
    if not isinstance(token, str) or _TOKEN_RE.fullmatch(token) is None:
        return None
    now = now or utcnow()
    # One indexed lookup (token_hash is unique) for the token and its owner.
    found = session.execute(_token_and_owner(), {"token_hash": hash_token(token)}).one_or_none()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        row.last_used_at = now
    return user, row


def list_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """The user's own live tokens (never the values), newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_token(
    session: Session, user_id: int, token_id: int, *, now: datetime | None = None
) -> None:
    """Revoke one of the user's own tokens; another user's is "not found"."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        raise NotFound("no such API token")
    row.revoked_at = now or utcnow()
    audit.record(
        session,
        actor=f"user:{user_id}",
        action="auth.api_token_revoked",
        subject_type="api_token",
        subject_id=row.id,
    )
