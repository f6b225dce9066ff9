"""Exchange-venue API keys (sealed at rest, never shown again) and venue switches.

A key and its secret are sealed separately, each bound to its venue and
role by the AES-GCM associated data. The admin panel shows only the last
characters of the key. Settlement reads credentials with
:func:`credentials` and skips disabled venues (:func:`enabled_venues`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.admin.errors import ActionRefused, AdminNotFound
from wallet.admin.models import ExchangeAccount
from wallet.audit import record
from wallet.custody.kms import KeyManager
from wallet.custody.secret import SecretBytes
from wallet.merchants import sealed

MAX_CREDENTIAL = 512


def _context(venue: str, part: str) -> str:
    return f"exchange-account:{venue}:{part}"


def _credential(value: object, what: str) -> str:
    if not isinstance(value, str) or not 8 <= len(value.strip()) <= MAX_CREDENTIAL:
        raise ActionRefused(
            f"the {what} must be 8–{MAX_CREDENTIAL} characters", code="invalid_credential"
        )
    text = value.strip()
    if any(not c.isprintable() or c.isspace() for c in text):
        raise ActionRefused(
            f"the {what} contains spaces or control characters", code="invalid_credential"
        )
    return text


def list_accounts(session: Session) -> list[ExchangeAccount]:
    return list(session.scalars(select(ExchangeAccount).order_by(ExchangeAccount.venue)))


def set_credentials(
    session: Session,
    kms: KeyManager,
    venue: str,
    api_key: object,
    api_secret: object,
    *,
    venues: tuple[str, ...],
    actor: str,
    now: datetime,
    label: str | None = None,
) -> ExchangeAccount:
    """Add a venue's keys, or rotate them (the old ones are overwritten)."""
    if venue not in venues:
        raise ActionRefused(f"unknown venue {venue!r}", code="unknown_venue")
    key = _credential(api_key, "API key")
    secret = _credential(api_secret, "API secret")
    account = session.scalars(
        select(ExchangeAccount).where(ExchangeAccount.venue == venue).with_for_update()
    ).one_or_none()
    rotated = account is not None
    if account is None:
        account = ExchangeAccount(
            venue=venue, label=label or venue, enabled=True, created_at=now, updated_by=actor
        )
        session.add(account)
    account.api_key_sealed = sealed.seal(kms, key, _context(venue, "api_key"))
    account.api_secret_sealed = sealed.seal(kms, secret, _context(venue, "api_secret"))
    account.key_hint = "…" + key[-4:]
    account.updated_by = actor
    if label:
        account.label = label[:100]
    if rotated:
        account.rotated_at = now
    session.flush()
    record(
        session,
        actor=actor,
        action="exchange_account.rotated" if rotated else "exchange_account.added",
        subject_type="exchange_account",
        subject_id=venue,
        data={"key_hint": account.key_hint},
    )
    return account


def set_enabled(session: Session, venue: str, enabled: bool, *, actor: str) -> ExchangeAccount:
    account = session.scalars(
        select(ExchangeAccount).where(ExchangeAccount.venue == venue).with_for_update()
    ).one_or_none()
    if account is None:
        raise AdminNotFound(f"no account for venue {venue!r}; add its keys first")
    account.enabled = enabled
    account.updated_by = actor
    record(
        session,
        actor=actor,
        action="exchange_account.enabled" if enabled else "exchange_account.disabled",
        subject_type="exchange_account",
        subject_id=venue,
    )
    session.flush()
    return account


def enabled_venues(session: Session) -> list[str]:
    return [a.venue for a in list_accounts(session) if a.enabled]


def credentials(session: Session, kms: KeyManager, venue: str) -> tuple[SecretBytes, SecretBytes]:
    """The venue's (API key, API secret); for the settlement's exchange client."""
    account = session.scalars(
        select(ExchangeAccount).where(ExchangeAccount.venue == venue)
    ).one_or_none()
    if account is None or account.api_key_sealed is None or account.api_secret_sealed is None:
        raise AdminNotFound(f"no credentials for venue {venue!r}")
    return (
        sealed.unseal(kms, account.api_key_sealed, _context(venue, "api_key")),
        sealed.unseal(kms, account.api_secret_sealed, _context(venue, "api_secret")),
    )
