"""Verify and parse RazorpayX payout webhooks.

Razorpay ("Validate and Test Webhooks") signs the raw request body with the
webhook secret (not the API key secret): ``X-Razorpay-Signature`` is the hex
HMAC-SHA256. Nothing else is signed — no timestamp — so:

1. :func:`verify` runs over the exact bytes received, with a constant-time
   compare, BEFORE any JSON parsing (a re-serialised body never matches, and
   unauthenticated input must not reach the parser).
2. Replay and duplicate protection is the CALLER's job: store
   ``x-razorpay-event-id`` under a unique constraint and skip ids already
   seen. Razorpay retries deliveries and may send an event more than once.
3. Events arrive out of order; apply the payout status with
   :func:`wallet.payouts.status.advance` so it only moves forward.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wallet.payouts.errors import WebhookPayloadInvalid, WebhookSignatureInvalid
from wallet.payouts.razorpayx import Payout

SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "x-razorpay-event-id"


def signature(raw_body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 Razorpay sends for ``raw_body``."""
    return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def verify(raw_body: bytes, signature_header: str | None, secret: str) -> None:
    """Raise :class:`WebhookSignatureInvalid` unless the signature matches the raw body."""
    if not secret:
        raise WebhookSignatureInvalid("no webhook secret configured", code="webhook_not_configured")
    if not signature_header:
        raise WebhookSignatureInvalid("missing X-Razorpay-Signature")
    expected = signature(raw_body, secret).encode()
    if not hmac.compare_digest(expected, signature_header.strip().lower().encode()):
        raise WebhookSignatureInvalid("X-Razorpay-Signature does not match the body")


@dataclass(frozen=True)
class WebhookEvent:
    """One RazorpayX webhook delivery: ``payout`` is set for ``payout.*`` events."""

    event_id: str
    event: str
    account_id: str | None
    created_at: datetime
    payout: Payout | None


def parse(raw_body: bytes, event_id: str | None) -> WebhookEvent:
    """Parse a VERIFIED body into a :class:`WebhookEvent` (call :func:`verify` first)."""
    if not event_id:
        raise WebhookPayloadInvalid("missing x-razorpay-event-id")
    try:
        data: Any = json.loads(raw_body)
    except ValueError as exc:
        raise WebhookPayloadInvalid("webhook body is not JSON") from exc
    if not isinstance(data, dict) or data.get("entity") != "event":
        raise WebhookPayloadInvalid("webhook body is not an event envelope")
    event = data.get("event")
    if not isinstance(event, str):
        raise WebhookPayloadInvalid("webhook event name missing")
    payout = None
    if event.startswith("payout."):
        try:
            entity = data["payload"]["payout"]["entity"]
        except (KeyError, TypeError) as exc:
            raise WebhookPayloadInvalid(f"{event} without payload.payout.entity") from exc
        payout = Payout.from_api(entity)
    created = data.get("created_at")
    if isinstance(created, bool) or not isinstance(created, int):
        raise WebhookPayloadInvalid("created_at must be a unix timestamp")
    return WebhookEvent(
        event_id=event_id,
        event=event,
        account_id=data.get("account_id"),
        created_at=datetime.fromtimestamp(created, UTC),
        payout=payout,
    )


def verify_and_parse(raw_body: bytes, headers: Mapping[str, str], secret: str) -> WebhookEvent:
    """:func:`verify` then :func:`parse`, reading both headers case-insensitively."""
    lowered = {k.lower(): v for k, v in headers.items()}
    verify(raw_body, lowered.get(SIGNATURE_HEADER.lower()), secret)
    return parse(raw_body, lowered.get(EVENT_ID_HEADER))
