"""Dynamic QRs: single-use payment links with an amount, a note and an expiry.

A link is ``https://<host>/m/<id>``; its QR encodes that URL. The payer's
flow resolves the id (:func:`resolve_link`) for the payee and amount — the
link itself carries neither, so a printed or forwarded QR cannot be edited —
and consumes it when it opens the payment (:func:`consume_link`, in the
same transaction), which is what makes it single-use.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.db.models.users import Merchant, MerchantStatus
from wallet.merchants.config import MerchantConfig
from wallet.merchants.errors import InvalidInput, LinkUnavailable, MerchantNotFound
from wallet.merchants.models import LinkStatus, PaymentLink

MAX_NOTE = 100


@dataclass(frozen=True, slots=True)
class LinkView:
    """What the payer's flow needs from a live link."""

    id: str
    merchant_id: int
    payee_vpa: str
    payee_name: str
    amount_paise: int
    note: str | None
    expires_at: datetime


def clean_note(note: object) -> str | None:
    """An optional note of at most 100 characters, no control or bidi characters."""
    if note is None or note == "":
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise InvalidInput(f"the note must be text of at most {MAX_NOTE} characters")
    if any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"} for c in note):
        raise InvalidInput("the note contains control characters")
    return note.strip() or None


def create_link(
    session: Session,
    merchant: Merchant,
    *,
    amount_paise: int,
    note: str | None,
    expires_in: int | None,
    now: datetime,
    config: MerchantConfig,
    actor: str,
) -> PaymentLink:
    """A new active link for ``amount_paise`` that expires ``expires_in`` seconds from now."""
    if merchant.status is not MerchantStatus.ACTIVE:
        raise InvalidInput("the merchant is not active", code="merchant_inactive")
    if isinstance(amount_paise, bool) or not isinstance(amount_paise, int):
        raise InvalidInput("the amount must be whole paise")
    if not 100 <= amount_paise <= config.link_max_paise:
        raise InvalidInput(
            f"the amount must be between ₹1 and ₹{config.link_max_paise // 100:,}",
            code="invalid_amount",
        )
    ttl = config.link_default_ttl_seconds if expires_in is None else expires_in
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, int)
        or not 60 <= ttl <= config.link_max_ttl_seconds
    ):
        raise InvalidInput(
            f"expires_in must be 60–{config.link_max_ttl_seconds} seconds", code="invalid_expiry"
        )
    link = PaymentLink(
        id=secrets.token_urlsafe(12),
        merchant_id=merchant.id,
        amount_paise=amount_paise,
        note=clean_note(note),
        status=LinkStatus.ACTIVE,
        expires_at=now + timedelta(seconds=ttl),
        created_at=now,
    )
    session.add(link)
    session.flush()
    record(
        session,
        actor=actor,
        action="payment_link.created",
        subject_type="payment_link",
        subject_id=link.id,
        data={"merchant_id": merchant.id, "amount_paise": amount_paise, "ttl": ttl},
    )
    return link


def link_state(link: PaymentLink, now: datetime) -> str:
    """``active``, ``used``, ``cancelled`` or ``expired`` (expiry is derived, not stored)."""
    if link.status is LinkStatus.ACTIVE and now >= link.expires_at:
        return "expired"
    return link.status.value


def resolve_link(session: Session, link_id: str, *, now: datetime) -> LinkView:
    """The payee and amount of a live link, or ``link_unavailable``."""
    link = session.get(PaymentLink, link_id) if isinstance(link_id, str) else None
    if link is None:
        raise LinkUnavailable("this payment link does not exist")
    state = link_state(link, now)
    if state != "active":
        raise LinkUnavailable(f"this payment link is {state}")
    merchant = session.get_one(Merchant, link.merchant_id)
    if merchant.status is not MerchantStatus.ACTIVE:
        raise LinkUnavailable("this merchant cannot take payments right now")
    return LinkView(
        id=link.id,
        merchant_id=merchant.id,
        payee_vpa=merchant.upi_vpa,
        payee_name=merchant.display_name,
        amount_paise=link.amount_paise,
        note=link.note,
        expires_at=link.expires_at,
    )


def consume_link(session: Session, link_id: str, payment_id: str, *, now: datetime) -> PaymentLink:
    """Mark the link used by ``payment_id`` (in the payment's transaction).

    Idempotent for the same payment; any other payment gets ``link_unavailable``.
    """
    link = session.get(PaymentLink, link_id, with_for_update=True, populate_existing=True)
    if link is None:
        raise LinkUnavailable("this payment link does not exist")
    if link.status is LinkStatus.USED and link.payment_id == payment_id:
        return link
    state = link_state(link, now)
    if state != "active":
        raise LinkUnavailable(f"this payment link is {state}")
    link.status = LinkStatus.USED
    link.payment_id = payment_id
    link.used_at = now
    session.flush()
    return link


def cancel_link(session: Session, merchant_id: int, link_id: str, *, actor: str) -> PaymentLink:
    link = session.get(PaymentLink, link_id, with_for_update=True)
    if link is None or link.merchant_id != merchant_id:
        raise MerchantNotFound("no such payment link")
    if link.status is LinkStatus.ACTIVE:
        link.status = LinkStatus.CANCELLED
        record(
            session,
            actor=actor,
            action="payment_link.cancelled",
            subject_type="payment_link",
            subject_id=link.id,
        )
        session.flush()
    return link


def get_link(session: Session, merchant_id: int, link_id: str) -> PaymentLink:
    link = session.get(PaymentLink, link_id)
    if link is None or link.merchant_id != merchant_id:
        raise MerchantNotFound("no such payment link")
    return link


def list_links(session: Session, merchant_id: int, limit: int = 50) -> list[PaymentLink]:
    return list(
        session.scalars(
            select(PaymentLink)
            .where(PaymentLink.merchant_id == merchant_id)
            .order_by(PaymentLink.created_at.desc())
            .limit(limit)
        )
    )


def link_exists(session: Session, link_id: str) -> bool:
    return isinstance(link_id, str) and session.get(PaymentLink, link_id) is not None
