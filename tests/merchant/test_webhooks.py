"""Merchant webhooks over real HTTP: signatures checked by a receiver written from
the documented scheme, retries with backoff, permanent failures, replay, sealing."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.merchant.support import csrf, db, make_payment, signed_in
from wallet.db.base import utcnow
from wallet.db.models import OutboxMessage, OutboxStatus, PaymentStatus
from wallet.merchants import webhooks
from wallet.merchants.config import MerchantConfig
from wallet.merchants.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from webapp.extensions import session_factory
from webapp.merchant.common import kms

CONFIG = MerchantConfig()


@dataclass
class Receiver:
    """A merchant's endpoint: verifies as the docs say, answers from a script."""

    secret: bytes = b""
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        # Written from the merchant docs, not from wallet.merchants.webhooks.
        parts = dict(p.split("=", 1) for p in headers.get("TaskForce-Signature", "").split(","))
        stamp = parts.get("t", "")
        if not stamp.isdigit() or stamp != headers.get("TaskForce-Timestamp"):
            return False
        if abs(time.time() - int(stamp)) > 300:
            return False
        expected = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k: v for k, v in self.headers.items()}
            ok = state.verify(headers, body)
            state.received.append({"headers": headers, "body": body, "verified": ok})
            status, extra = state.script.pop(0) if state.script else (200, {})
            if not ok:
                status = 400
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()


def add_endpoint(app: Flask, url: str, events: list[str] | None = None) -> tuple[Any, str]:
    client, _user, merchant = signed_in(app)
    token = csrf(client, "/merchant/webhooks")
    form: dict[str, Any] = {"url": url, "csrf_token": token}
    if events:
        form["events"] = events
    resp = client.post("/merchant/webhooks", data=form)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    secret = re.search(r"whsec_[A-Za-z0-9_\-]+", resp.get_data(as_text=True))
    assert secret
    assert secret.group(0) not in client.get("/merchant/webhooks").get_data(as_text=True)
    return (client, merchant), secret.group(0)


def settled() -> datetime:
    """A time by which the events just written are old enough to scan."""
    return utcnow() + timedelta(seconds=webhooks.SETTLE_SECONDS + 1)


def scan_and_deliver(app: Flask, at: datetime) -> webhooks.DeliveryReport:
    with app.app_context():
        factory = session_factory()
        keys = kms()
    with factory() as session, session.begin():
        webhooks.scan_payment_events(session, now=at)
    return webhooks.deliver_due(factory, keys, config=CONFIG, now=lambda: at)


def test_signed_deliveries_verify_and_secret_is_sealed(app: Flask, receiver: Receiver) -> None:
    (_client, merchant), secret = add_endpoint(app, receiver.url)
    receiver.secret = secret.encode()
    payment = make_payment(app, merchant, PaymentStatus.COMPLETED)
    other = make_payment(app, None, PaymentStatus.COMPLETED)  # not a merchant's: no event
    report = scan_and_deliver(app, settled())
    assert len(report.delivered) == 2 and not report.retrying
    assert all(r["verified"] for r in receiver.received)
    bodies = [json.loads(r["body"]) for r in receiver.received]
    assert [b["type"] for b in bodies] == ["payment.confirmed", "payment.paid_out"]
    assert {b["data"]["payment_id"] for b in bodies} == {payment.id} != {other.id}
    assert bodies[0]["data"]["amount_inr"] == "250.00"
    assert receiver.received[0]["headers"]["TaskForce-Event-Id"] == bodies[0]["id"]
    with db(app) as session:
        endpoint = session.scalars(select(WebhookEndpoint)).one()
        assert secret not in endpoint.secret_sealed
        assert webhooks.endpoint_secret(kms_for(app), endpoint).reveal() == secret.encode()
    # A re-run scan enqueues nothing new (dedupe on endpoint + event).
    assert not scan_and_deliver(app, settled()).delivered


def kms_for(app: Flask) -> Any:
    with app.app_context():
        return kms()


def test_a_tampered_body_fails_verification(app: Flask, receiver: Receiver) -> None:
    (_c, merchant), secret = add_endpoint(app, receiver.url)
    receiver.secret = b"whsec_not-the-right-secret"
    make_payment(app, merchant, PaymentStatus.CONFIRMED)
    report = scan_and_deliver(app, settled())
    assert receiver.received and not receiver.received[0]["verified"]
    assert report.failed  # the receiver's 400 is permanent
    stamp = int(time.time())
    body = b'{"id":"evt_1"}'
    header = webhooks.sign(secret.encode(), stamp, body)
    assert webhooks.verify(secret.encode(), header, body, now=stamp)
    assert not webhooks.verify(secret.encode(), header, body + b" ", now=stamp)
    assert not webhooks.verify(secret.encode(), header, body, now=stamp + 301)


def test_retries_with_backoff_then_delivers(app: Flask, receiver: Receiver) -> None:
    (_c, merchant), secret = add_endpoint(app, receiver.url, ["payment.confirmed"])
    receiver.secret = secret.encode()
    receiver.script = [(503, {}), (429, {"Retry-After": "120"}), (200, {})]
    make_payment(app, merchant, PaymentStatus.CONFIRMED)
    t0 = settled()
    assert scan_and_deliver(app, t0).retrying
    with app.app_context():
        factory, keys = session_factory(), kms()

    def due_at(offset: float) -> webhooks.DeliveryReport:
        return webhooks.deliver_due(
            factory, keys, config=CONFIG, now=lambda: t0 + timedelta(seconds=offset)
        )

    with factory() as session:
        first_retry = session.scalars(select(OutboxMessage)).one().next_attempt_at
    assert timedelta(seconds=30) <= first_retry - t0 <= timedelta(seconds=33)
    assert not due_at(10).retrying and len(receiver.received) == 1  # not due yet
    assert due_at(34).retrying  # 429 with Retry-After: 120 waits at least that long
    with factory() as session:
        second_retry = session.scalars(select(OutboxMessage)).one().next_attempt_at
    assert second_retry - (t0 + timedelta(seconds=34)) >= timedelta(seconds=120)
    assert not due_at(100).delivered
    assert due_at(160).delivered
    with factory() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 3
        codes = [
            a.status_code
            for a in session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id))
        ]
        assert codes == [503, 429, 200]
        assert session.scalars(select(OutboxMessage)).one().status is OutboxStatus.SENT
    # The same event id in every attempt: receivers dedupe on it.
    assert len({r["headers"]["TaskForce-Event-Id"] for r in receiver.received}) == 1


def test_network_errors_retry_and_the_budget_ends_in_failure(app: Flask) -> None:
    (_c, merchant), _secret = add_endpoint(app, "http://127.0.0.1:9/nothing-listens")
    make_payment(app, merchant, PaymentStatus.CONFIRMED)
    t0 = settled()
    short = MerchantConfig(webhook_max_attempts=2, webhook_backoff_base_seconds=1)
    with app.app_context():
        factory, keys = session_factory(), kms()
    with factory() as session, session.begin():
        webhooks.scan_payment_events(session, now=t0)
    first = webhooks.deliver_due(factory, keys, config=short, now=lambda: t0)
    assert first.retrying
    second = webhooks.deliver_due(
        factory, keys, config=short, now=lambda: t0 + timedelta(seconds=5)
    )
    assert second.failed
    with factory() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert delivery.status is DeliveryStatus.FAILED and delivery.last_status_code is None
        assert "ConnectError" in (delivery.last_error or "")
        assert session.scalars(select(OutboxMessage)).one().status is OutboxStatus.DEAD


def test_replay_resends_the_same_event_from_the_log(app: Flask, receiver: Receiver) -> None:
    (client, merchant), secret = add_endpoint(app, receiver.url, ["payment.confirmed"])
    receiver.secret = secret.encode()
    make_payment(app, merchant, PaymentStatus.CONFIRMED)
    scan_and_deliver(app, settled())
    page = client.get("/merchant/webhooks").get_data(as_text=True)
    assert "payment.confirmed" in page and "delivered" in page
    delivery_id = re.search(r"/merchant/webhooks/deliveries/(\d+)/replay", page).group(1)  # type: ignore[union-attr]
    token = csrf(client, "/merchant/webhooks")
    assert client.post(f"/merchant/webhooks/deliveries/{delivery_id}/replay").status_code == 403
    client.post(f"/merchant/webhooks/deliveries/{delivery_id}/replay", data={"csrf_token": token})
    with app.app_context():
        factory, keys = session_factory(), kms()
    report = webhooks.deliver_due(factory, keys, config=CONFIG, now=settled)
    assert len(report.delivered) == 1
    first, replayed = receiver.received
    assert replayed["verified"] and replayed["body"] == first["body"]
    assert replayed["headers"]["TaskForce-Event-Id"] == first["headers"]["TaskForce-Event-Id"]


def test_endpoint_urls_are_checked(app: Flask) -> None:
    with pytest.raises(webhooks.InvalidInput):
        webhooks.validate_url("ftp://example.com/x", allow_private=True)
    with pytest.raises(webhooks.InvalidInput):
        webhooks.validate_url("https://user:pw@example.com/x", allow_private=True)
    for private in (
        "http://example.com/x",
        "https://127.0.0.1/x",
        "https://10.0.0.8/x",
        "https://localhost/x",
    ):
        with pytest.raises(webhooks.InvalidInput):
            webhooks.validate_url(private, allow_private=False)
    assert webhooks.validate_url("https://example.com/x", allow_private=False)
