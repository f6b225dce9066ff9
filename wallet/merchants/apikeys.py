"""Merchant API keys: scoped, shown once, revocable.

``wallet.accounts.tokens`` bearer tokens carry the user's full power and no
scopes, so merchant keys live in their own table. A key looks like
``tfm_<43 url-safe characters>`` (256 random bits; the prefix lets secret
scanners spot a leak) and is stored as its SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.db.models.users import Merchant
from wallet.merchants.errors import InvalidInput, MerchantNotFound
from wallet.merchants.models import MerchantApiKey

KEY_PREFIX = "tfm_"
SCOPES = {
    "payments:read": "List and read your payments",
    "links:write": "Create payment links (dynamic QRs)",
    "payout_account:write": "Change the payout VPA (cooling-off applies)",
}
MAX_KEYS = 20
_KEY_RE = re.compile(r"tfm_[A-Za-z0-9_\-]{43}")
_TOUCH_EVERY = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    row: MerchantApiKey
    key: str  # the only time the plain value exists


def clean_scopes(scopes: object) -> list[str]:
    if not isinstance(scopes, list | tuple) or not scopes:
        raise InvalidInput("choose at least one scope", code="invalid_scopes")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidInput(f"unknown scopes: {', '.join(map(str, unknown))}", code="invalid_scopes")
    return sorted({str(s) for s in scopes})


def issue_key(
    session: Session, merchant: Merchant, name: str, scopes: object, *, actor: str, now: datetime
) -> IssuedKey:
    chosen = clean_scopes(scopes)
    live = session.scalars(
        select(MerchantApiKey.id).where(
            MerchantApiKey.merchant_id == merchant.id, MerchantApiKey.revoked_at.is_(None)
        )
    ).all()
    if len(live) >= MAX_KEYS:
        raise InvalidInput("too many API keys; revoke one first", code="too_many_keys")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = MerchantApiKey(
        merchant_id=merchant.id,
        name=(name or "key").strip()[:100] or "key",
        prefix=key[:10],
        key_hash=hash_key(key),
        scopes=chosen,
        created_at=now,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor,
        action="merchant.api_key_created",
        subject_type="merchant_api_key",
        subject_id=row.id,
        data={"name": row.name, "prefix": row.prefix, "scopes": chosen},
    )
    return IssuedKey(row, key)


def authenticate_key(
    session: Session, key: object, *, now: datetime
) -> tuple[Merchant, MerchantApiKey] | None:
    """The merchant of a live key, or None (malformed, unknown or revoked)."""
    if not isinstance(key, str) or _KEY_RE.fullmatch(key) is None:
        return None
    row = session.scalars(
        select(MerchantApiKey).where(MerchantApiKey.key_hash == hash_key(key))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    merchant = session.get(Merchant, row.merchant_id)
    if merchant is None:
        return None
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        row.last_used_at = now
    return merchant, row


def list_keys(session: Session, merchant_id: int) -> list[MerchantApiKey]:
    return list(
        session.scalars(
            select(MerchantApiKey)
            .where(MerchantApiKey.merchant_id == merchant_id, MerchantApiKey.revoked_at.is_(None))
            .order_by(MerchantApiKey.id.desc())
        )
    )


def revoke_key(
    session: Session, merchant_id: int, key_id: int, *, actor: str, now: datetime
) -> None:
    row = session.get(MerchantApiKey, key_id)
    if row is None or row.merchant_id != merchant_id or row.revoked_at is not None:
        raise MerchantNotFound("no such API key")
    row.revoked_at = now
    record(
        session,
        actor=actor,
        action="merchant.api_key_revoked",
        subject_type="merchant_api_key",
        subject_id=row.id,
    )
    session.flush()
