"""Tables of accounts and sign-in: server-side sessions, API tokens, throttles.

Secrets never sit in these tables in plain text: a session id or an API
token is stored as its SHA-256 (both are 256-bit random values, so a plain
hash is enough: there is nothing to brute-force). Migration:
``migrations/versions/0003_accounts.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, UTCDateTime, utcnow
from wallet.db.models._types import IdType


class UserSession(Base):
    """One signed-in browser. Revoked rows stay for the "your devices" list.

    ``authenticated_at`` is when the password was last typed in this
    session: sensitive changes ask for it again after a short window.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (Index(None, "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    authenticated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class ApiToken(Base):
    """A bearer token for the REST API, shown to its owner exactly once.

    ``prefix`` (the first characters of the token) lets the owner tell
    tokens apart in a list without the token being recoverable.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed sign-ins per (account, client address) or per client address.

    ``key`` is a SHA-256 of the scope (so neither e-mail addresses nor IPs
    sit here in plain text). ``blocked_until`` grows exponentially with
    ``failures`` past a free allowance; a success clears the row.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # account_ip | ip
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
