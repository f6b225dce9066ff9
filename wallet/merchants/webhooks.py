"""Merchant webhooks: endpoints, signed deliveries through the outbox, replay.

Events: ``payment.confirmed`` (the crypto arrived and is final enough to
pay out on), ``payment.paid_out`` (rupees sent to the vendor's VPA),
``payment.failed`` and ``payout.reversed``. They come from the payment
timeline (``payment_events``), read by :func:`scan_payment_events` with a
cursor, so no other module has to remember to emit them.

Signature (documented for merchants, Stripe's scheme)::

    TaskForce-Timestamp: 1767225600
    TaskForce-Signature: t=1767225600,v1=<hex HMAC-SHA256(secret, "1767225600." + raw body)>

A receiver recomputes the HMAC over the *raw* body bytes with its endpoint
secret, compares in constant time, and refuses a timestamp more than five
minutes from its clock (replay protection). Deliveries are at-least-once:
dedupe on ``TaskForce-Event-Id`` (the same in a retry and in a replay).

Delivery (RELIABILITY: every external effect keyed by our ids): each
(endpoint, event) is one ``webhook_deliveries`` row and one outbox message
``webhook:<endpoint>:<event>``. :func:`deliver_due` claims a due message
(a short transaction that also pushes ``next_attempt_at`` out by a lease,
so a crashed worker's message comes back), sends with no transaction
open, and records the attempt. 2xx delivers; 408, 429, 5xx and network
errors retry with exponential backoff; other 4xx fail at once.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from wallet.audit import record
from wallet.custody.kms import KeyManager
from wallet.custody.secret import SecretBytes
from wallet.db.models.ops import OutboxMessage, OutboxStatus
from wallet.db.models.payments import Payment, PaymentEvent
from wallet.db.session import transaction
from wallet.db.tail import settled_payment_events
from wallet.http import tls_context
from wallet.merchants import sealed
from wallet.merchants.config import MerchantConfig
from wallet.merchants.errors import InvalidInput, MerchantNotFound
from wallet.merchants.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from wallet.money import format_minor
from wallet.payments.states import PaymentStatus

TOPIC = "merchant.webhook"
EVENTS = ("payment.confirmed", "payment.paid_out", "payment.failed", "payout.reversed")
SIGNATURE_HEADER = "TaskForce-Signature"
TIMESTAMP_HEADER = "TaskForce-Timestamp"
EVENT_ID_HEADER = "TaskForce-Event-Id"
EVENT_TYPE_HEADER = "TaskForce-Event-Type"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a public marker, not a secret
MAX_ENDPOINTS = 5
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
CURSOR = "webhooks.payment_events"
# Events younger than this are left for the next scan: a transaction that
# took a lower id may not have committed yet (ids are not commit order).
SETTLE_SECONDS = 10


# --- signing -------------------------------------------------------------------


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``TaskForce-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    items = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [v for k, v in items if k.strip() == "t"]
    macs = [v for k, v in items if k.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not macs:
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected.encode(), m.strip().encode()) for m in macs)


# --- endpoints -------------------------------------------------------------------


def _context(endpoint_public_id: str) -> str:
    return f"merchant-webhook-secret:{endpoint_public_id}"


def validate_url(url: object, *, allow_private: bool) -> str:
    """An http(s) URL; in production only https to a public address (no SSRF)."""
    if not isinstance(url, str) or not 8 <= len(url) <= 2048:
        raise InvalidInput("enter the endpoint URL (at most 2048 characters)", code="invalid_url")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the endpoint must be an http(s) URL", code="invalid_url")
    if parts.username or parts.password:
        raise InvalidInput(
            "put no credentials in the URL; verify signatures instead", code="invalid_url"
        )
    if not allow_private:
        if parts.scheme != "https":
            raise InvalidInput("the endpoint must use https", code="invalid_url")
        host = parts.hostname
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if host == "localhost" or (address is not None and not address.is_global):
            raise InvalidInput("the endpoint must be a public address", code="invalid_url")
    return url.strip()


def _events(events: object) -> list[str]:
    chosen = list(EVENTS) if events is None else events
    if not isinstance(chosen, list | tuple) or not chosen:
        raise InvalidInput("choose at least one event", code="invalid_events")
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise InvalidInput(f"unknown events: {', '.join(map(str, unknown))}", code="invalid_events")
    return [e for e in EVENTS if e in chosen]


@dataclass(frozen=True, slots=True)
class NewSecret:
    """An endpoint and its signing secret, shown to the merchant exactly once."""

    endpoint: WebhookEndpoint
    secret: str


def create_endpoint(
    session: Session,
    kms: KeyManager,
    merchant_id: int,
    url: object,
    events: object = None,
    *,
    allow_private: bool,
    actor: str,
    now: datetime,
) -> NewSecret:
    count = session.scalar(
        select(func.count(WebhookEndpoint.id)).where(WebhookEndpoint.merchant_id == merchant_id)
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise InvalidInput(f"at most {MAX_ENDPOINTS} endpoints", code="too_many_endpoints")
    public_id = "we_" + secrets.token_urlsafe(12)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        public_id=public_id,
        merchant_id=merchant_id,
        url=validate_url(url, allow_private=allow_private),
        secret_sealed=sealed.seal(kms, secret, _context(public_id)),
        secret_prefix=secret[:12],
        events=_events(events),
        enabled=True,
        created_at=now,
    )
    session.add(endpoint)
    session.flush()
    record(
        session,
        actor=actor,
        action="webhook.endpoint_created",
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
        data={"url": endpoint.url, "events": endpoint.events},
    )
    return NewSecret(endpoint, secret)


def own_endpoint(session: Session, merchant_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.merchant_id != merchant_id:
        raise MerchantNotFound("no such webhook endpoint")
    return endpoint


def rotate_secret(
    session: Session,
    kms: KeyManager,
    merchant_id: int,
    endpoint_id: int,
    *,
    actor: str,
    now: datetime,
) -> NewSecret:
    """A new signing secret; the old one stops working at once."""
    endpoint = own_endpoint(session, merchant_id, endpoint_id)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint.secret_sealed = sealed.seal(kms, secret, _context(endpoint.public_id))
    endpoint.secret_prefix = secret[:12]
    endpoint.secret_rotated_at = now
    record(
        session,
        actor=actor,
        action="webhook.secret_rotated",
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
    )
    session.flush()
    return NewSecret(endpoint, secret)


def set_enabled(
    session: Session, merchant_id: int, endpoint_id: int, enabled: bool, *, actor: str
) -> WebhookEndpoint:
    endpoint = own_endpoint(session, merchant_id, endpoint_id)
    endpoint.enabled = enabled
    record(
        session,
        actor=actor,
        action="webhook.endpoint_enabled" if enabled else "webhook.endpoint_disabled",
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
    )
    session.flush()
    return endpoint


def endpoint_secret(kms: KeyManager, endpoint: WebhookEndpoint) -> SecretBytes:
    return sealed.unseal(kms, endpoint.secret_sealed, _context(endpoint.public_id))


def list_endpoints(session: Session, merchant_id: int) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.merchant_id == merchant_id)
            .order_by(WebhookEndpoint.id)
        )
    )


# --- events ------------------------------------------------------------------------


def _new_delivery(
    session: Session,
    endpoint: WebhookEndpoint,
    *,
    dedupe_key: str,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
    replay_of: int | None = None,
) -> WebhookDelivery | None:
    exists = session.scalars(
        select(WebhookDelivery.id).where(WebhookDelivery.dedupe_key == dedupe_key)
    ).first()
    if exists is not None:
        return None  # enqueued before: a re-run scan changes nothing
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        dedupe_key=dedupe_key,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        status=DeliveryStatus.PENDING,
        replay_of=replay_of,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    session.add(
        OutboxMessage(
            topic=TOPIC,
            key=f"webhook:{dedupe_key}",
            payload={"delivery_id": delivery.id},
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
    )
    session.flush()
    return delivery


def enqueue_event(
    session: Session,
    merchant_id: int,
    event_type: str,
    event_id: str,
    data: dict[str, Any],
    *,
    now: datetime,
) -> list[WebhookDelivery]:
    """One delivery per enabled endpoint of the merchant subscribed to ``event_type``."""
    if event_type not in EVENTS:
        raise InvalidInput(f"unknown event {event_type!r}", code="invalid_events")
    body = {
        "id": event_id,
        "type": event_type,
        "created": int(now.timestamp()),
        "data": data,
    }
    created = []
    for endpoint in list_endpoints(session, merchant_id):
        if not endpoint.enabled or event_type not in endpoint.events:
            continue
        delivery = _new_delivery(
            session,
            endpoint,
            dedupe_key=f"{endpoint.id}:{event_id}",
            event_id=event_id,
            event_type=event_type,
            payload=body,
            now=now,
        )
        if delivery is not None:
            created.append(delivery)
    return created


def event_for(event: PaymentEvent) -> str | None:
    """The webhook event a timeline step means, if any."""
    to = event.to_status
    if to is PaymentStatus.CONFIRMED:
        return "payment.confirmed"
    if to is PaymentStatus.SETTLING and event.from_status is PaymentStatus.DETECTED:
        return "payment.confirmed"  # custodial payments settle on first sight
    if to is PaymentStatus.PAID_OUT:
        return "payment.paid_out"
    if to is PaymentStatus.FAILED:
        return "payment.failed"
    if to is PaymentStatus.PAYOUT_REVERSED:
        return "payout.reversed"
    return None


def payment_data(payment: Payment) -> dict[str, Any]:
    """The public view of a payment in events (amounts as strings, never floats)."""
    return {
        "payment_id": payment.id,
        "status": payment.status.value,
        "amount_inr": format_minor(payment.amount_inr_paise, 2),
        "amount_inr_minor": str(payment.amount_inr_paise),
        "asset": payment.asset,
        "payee_vpa": payment.payee_vpa,
        "created_at": payment.created_at.isoformat(),
    }


def scan_payment_events(session: Session, *, now: datetime, batch: int = 500) -> int:
    """Turn new timeline steps of merchants' payments into deliveries; how many."""
    made = 0
    for event, payment in settled_payment_events(
        session, CURSOR, now=now, settle_seconds=SETTLE_SECONDS, batch=batch
    ):
        kind = event_for(event)
        if kind is None or payment.merchant_id is None:
            continue
        data = payment_data(payment) | {"status": event.to_status.value}
        made += len(
            enqueue_event(session, payment.merchant_id, kind, f"evt_pe{event.id}", data, now=now)
        )
    return made


def replay(
    session: Session, merchant_id: int, delivery_id: int, *, actor: str, now: datetime
) -> WebhookDelivery:
    """Send a past event again (same event id and body, a fresh signature)."""
    original = session.get(WebhookDelivery, delivery_id)
    if original is None:
        raise MerchantNotFound("no such delivery")
    endpoint = own_endpoint(session, merchant_id, original.endpoint_id)
    root = original.replay_of or original.id
    count = session.scalar(
        select(func.count(WebhookDelivery.id)).where(WebhookDelivery.replay_of == root)
    )
    delivery = _new_delivery(
        session,
        endpoint,
        dedupe_key=f"{endpoint.id}:{original.event_id}:replay:{(count or 0) + 1}",
        event_id=original.event_id,
        event_type=original.event_type,
        payload=original.payload,
        now=now,
        replay_of=root,
    )
    if delivery is None:  # pragma: no cover - the count makes the key new
        raise InvalidInput("that replay is already queued", code="replay_queued")
    record(
        session,
        actor=actor,
        action="webhook.replayed",
        subject_type="webhook_delivery",
        subject_id=original.id,
        data={"replay": delivery.id},
    )
    return delivery


def delivery_log(
    session: Session, merchant_id: int, *, limit: int = 50
) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
    return [
        (d, e)
        for d, e in session.execute(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookEndpoint.merchant_id == merchant_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    ]


def attempts_of(session: Session, delivery_id: int) -> list[WebhookAttempt]:
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.attempt_no)
        )
    )


# --- delivery --------------------------------------------------------------------------


def backoff_seconds(attempt: int, delivery_id: int, config: MerchantConfig) -> float:
    """Exponential backoff after ``attempt`` failures, capped, with a per-delivery spread.

    The spread (0–10 %, derived from the delivery id) keeps many deliveries
    that failed together from retrying in one burst, yet is deterministic.
    """
    base = min(
        config.webhook_backoff_cap_seconds,
        config.webhook_backoff_base_seconds * 2 ** max(0, attempt - 1),
    )
    spread = (hashlib.sha256(str(delivery_id).encode()).digest()[0] % 101) / 1000
    return float(base) * (1 + spread)


@dataclass(frozen=True, slots=True)
class _Claim:
    message_id: int
    delivery_id: int
    attempt_no: int
    url: str
    body: bytes
    secret: SecretBytes
    event_id: str
    event_type: str


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def _claim(
    factory: sessionmaker[Session], kms: KeyManager, now: datetime, config: MerchantConfig
) -> _Claim | None:
    with transaction(factory) as session:
        message = session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.topic == TOPIC,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if message is None:
            return None
        message.attempts += 1
        message.next_attempt_at = now + timedelta(seconds=config.webhook_lease_seconds)
        delivery = session.get_one(WebhookDelivery, int(message.payload["delivery_id"]))
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        if not endpoint.enabled:
            message.status = OutboxStatus.DEAD
            message.last_error = "endpoint disabled"
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "endpoint disabled"
            return _Claim(message.id, delivery.id, 0, "", b"", SecretBytes(b""), "", "")
        delivery.attempts += 1
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
        return _Claim(
            message.id,
            delivery.id,
            delivery.attempts,
            endpoint.url,
            body,
            endpoint_secret(kms, endpoint),
            delivery.event_id,
            delivery.event_type,
        )


def _send(
    client: httpx.Client, claim: _Claim, now_ts: int
) -> tuple[int | None, str | None, int, float | None]:
    """POST the event; (status, error, duration ms, Retry-After seconds)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "TaskForce-Webhooks/1",
        TIMESTAMP_HEADER: str(now_ts),
        SIGNATURE_HEADER: sign(claim.secret.reveal(), now_ts, claim.body),
        EVENT_ID_HEADER: claim.event_id,
        EVENT_TYPE_HEADER: claim.event_type,
    }
    started = time.monotonic()
    try:
        response = client.post(claim.url, content=claim.body, headers=headers)
    except httpx.HTTPError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return None, f"{type(exc).__name__}: {str(exc)[:200]}", elapsed, None
    elapsed = int((time.monotonic() - started) * 1000)
    retry_after = response.headers.get("Retry-After", "")
    wait = float(retry_after) if retry_after.isdigit() else None
    return response.status_code, None, elapsed, wait


def _record(
    factory: sessionmaker[Session],
    claim: _Claim,
    outcome: tuple[int | None, str | None, int, float | None],
    now: datetime,
    config: MerchantConfig,
    report: DeliveryReport,
) -> None:
    status, error, elapsed, wait = outcome
    with transaction(factory) as session:
        message = session.get_one(OutboxMessage, claim.message_id, with_for_update=True)
        delivery = session.get_one(WebhookDelivery, claim.delivery_id)
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempt_no=claim.attempt_no,
                at=now,
                status_code=status,
                error=error,
                duration_ms=elapsed,
            )
        )
        delivery.last_status_code = status
        delivery.last_error = error
        if status is not None and 200 <= status < 300:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            message.status = OutboxStatus.SENT
            message.last_error = None
            report.delivered.append(delivery.id)
            return
        retryable = status is None or status in RETRYABLE_STATUSES
        message.last_error = error or f"HTTP {status}"
        if retryable and claim.attempt_no < config.webhook_max_attempts:
            delay = backoff_seconds(claim.attempt_no, delivery.id, config)
            if wait is not None:
                delay = max(delay, min(wait, float(config.webhook_backoff_cap_seconds)))
            message.next_attempt_at = now + timedelta(seconds=delay)
            report.retrying.append(delivery.id)
        else:
            delivery.status = DeliveryStatus.FAILED
            message.status = OutboxStatus.DEAD
            report.failed.append(delivery.id)


def deliver_due(
    factory: sessionmaker[Session],
    kms: KeyManager,
    *,
    config: MerchantConfig,
    now: Callable[[], datetime],
    limit: int = 100,
    transport: httpx.BaseTransport | None = None,
) -> DeliveryReport:
    """Send up to ``limit`` due deliveries, one at a time, and record each outcome."""
    report = DeliveryReport()
    with httpx.Client(
        timeout=config.webhook_timeout_seconds,
        follow_redirects=False,  # a redirect could point the signed body anywhere
        trust_env=False,
        transport=transport,
        verify=tls_context(),
    ) as client:
        for _ in range(limit):
            at = now()
            claim = _claim(factory, kms, at, config)
            if claim is None:
                break
            if claim.attempt_no == 0:
                report.failed.append(claim.delivery_id)
                continue
            outcome = _send(client, claim, int(at.timestamp()))
            _record(factory, claim, outcome, now(), config, report)
    return report


def backlog(session: Session) -> dict[str, int]:
    """Pending and dead webhook messages (for the admin's health page)."""
    rows = session.execute(
        select(OutboxMessage.status, func.count(OutboxMessage.id))
        .where(OutboxMessage.topic == TOPIC)
        .group_by(OutboxMessage.status)
    ).all()
    return {str(status.value if hasattr(status, "value") else status): n for status, n in rows}
