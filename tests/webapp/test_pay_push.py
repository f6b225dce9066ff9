"""Web Push: VAPID keys, subscriptions (CSRF, own only), and delivery over real HTTP.

The push service is a small HTTP server on loopback standing in for FCM or
Mozilla's autopush: it records each request, and the test decrypts the body
with the "browser's" private key (RFC 8291, aes128gcm) and checks the VAPID
authorisation (RFC 8292), so the whole path is exercised.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from sqlalchemy import select

from tests.webapp.conftest import csrf_from, web_signup
from tests.webapp.pay_support import market, pay_app, settings_for
from wallet.db.models.users import User
from webapp.extensions import session_factory, settings
from webapp.pay.models import PushSubscription
from webapp.push import load_vapid, payment_message, send_push

__all__ = ["market", "pay_app"]  # fixtures


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class PushService:
    """Records pushes; answers 410 Gone for endpoints under /gone/."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                service.received.append(
                    (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                self.send_response(410 if self.path.startswith("/gone/") else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService()
    yield service
    service.server.shutdown()
    service.server.server_close()


class Browser:
    """A browser's push keys: what PushManager.subscribe() would hold."""

    def __init__(self, endpoint: str) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        public = self.private.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        self.subscription = {
            "endpoint": endpoint,
            "keys": {"p256dh": _b64(public), "auth": _b64(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict[str, str]:
        plain = http_ece.decrypt(
            body, private_key=self.private, auth_secret=self.auth, version="aes128gcm"
        )
        data: dict[str, str] = json.loads(plain)
        return data


def _signed_in(app: Flask) -> tuple[Any, int]:
    client = app.test_client()
    email = web_signup(client)
    with app.app_context(), session_factory()() as db:
        user_id = int(db.scalars(select(User.id).where(User.email == email)).one())
    return client, user_id


def _subscribe(client: Any, subscription: dict[str, Any], token: str | None) -> Any:
    headers = {"Accept": "application/json"}
    if token:
        headers["X-CSRF-Token"] = token
    return client.post("/push/subscriptions", json=subscription, headers=headers)


def test_the_dev_vapid_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    s = settings_for(tmp_path, "sqlite://")
    first = load_vapid(s)
    path = tmp_path / "vapid_private.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_vapid(s)
    assert first.public_pem() == second.public_pem()
    with pytest.raises(Exception, match="VAPID_PRIVATE_KEY"):
        load_vapid(settings_for(tmp_path / "prod", "sqlite://", environment="production"))


def test_the_public_key_is_an_uncompressed_p256_point(pay_app: Flask) -> None:
    key = pay_app.test_client().get("/push/key").get_json()["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4


def test_subscribing_needs_sign_in_and_csrf_and_valid_keys(
    pay_app: Flask, push_service: PushService
) -> None:
    browser = Browser(push_service.url + "/push/abc")
    anonymous = pay_app.test_client()
    assert _subscribe(anonymous, browser.subscription, None).status_code in (302, 403)
    client, _uid = _signed_in(pay_app)
    assert _subscribe(client, browser.subscription, None).status_code == 403
    token = csrf_from(client, "/pay/notices")
    bad = dict(
        browser.subscription, keys={"p256dh": "AAAA", "auth": browser.subscription["keys"]["auth"]}
    )
    refused = _subscribe(client, bad, token)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "invalid_subscription"
    plain_http = dict(browser.subscription, endpoint="http://push.example.com/x")
    assert _subscribe(client, plain_http, token).status_code == 400
    ok = _subscribe(client, browser.subscription, token)
    assert ok.status_code == 201
    again = _subscribe(client, browser.subscription, token)  # a re-subscribe replaces
    assert again.status_code == 201
    with pay_app.app_context(), session_factory()() as db:
        assert len(list(db.scalars(select(PushSubscription)))) == 1


def test_a_push_reaches_the_browser_encrypted_and_signed(
    pay_app: Flask, push_service: PushService
) -> None:
    client, user_id = _signed_in(pay_app)
    token = csrf_from(client, "/pay/notices")
    browser = Browser(push_service.url + "/push/abc")
    gone = Browser(push_service.url + "/gone/old")
    assert _subscribe(client, browser.subscription, token).status_code == 201
    assert _subscribe(client, gone.subscription, token).status_code == 201
    other_client, other_id = _signed_in(pay_app)
    stranger = Browser(push_service.url + "/push/other")
    other_token = csrf_from(other_client, "/pay/notices")
    assert _subscribe(other_client, stranger.subscription, other_token).status_code == 201

    message = payment_message("pay-1", "paid_out", "30.00", "412345678901")
    with pay_app.app_context():
        delivered = send_push(session_factory(), settings(), user_id, message)
    assert delivered == 1
    paths = sorted(p for p, _h, _b in push_service.received)
    assert paths == ["/gone/old", "/push/abc"]  # never the other user's browser
    _path, headers, body = next(r for r in push_service.received if r[0] == "/push/abc")
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["authorization"].startswith("vapid t=")
    assert browser.decrypt(body) == {
        "title": "TaskForce Wallet",
        "body": "Vendor paid ₹30.00 (UTR 412345678901)",
        "url": "/pay/payments/pay-1",
    }
    with pay_app.app_context(), session_factory()() as db:
        left = {s.endpoint for s in db.scalars(select(PushSubscription))}
    assert left == {browser.subscription["endpoint"], stranger.subscription["endpoint"]}
    assert other_id != user_id


def test_unsubscribe_removes_only_your_own(pay_app: Flask, push_service: PushService) -> None:
    client, _uid = _signed_in(pay_app)
    token = csrf_from(client, "/pay/notices")
    browser = Browser(push_service.url + "/push/mine")
    _subscribe(client, browser.subscription, token)
    intruder, _other = _signed_in(pay_app)
    intruder_token = csrf_from(intruder, "/pay/notices")
    body = {"endpoint": browser.subscription["endpoint"]}
    resp = intruder.post(
        "/push/subscriptions/delete", json=body, headers={"X-CSRF-Token": intruder_token}
    )
    assert resp.get_json() == {"deleted": 0}
    mine = client.post("/push/subscriptions/delete", json=body, headers={"X-CSRF-Token": token})
    assert mine.get_json() == {"deleted": 1}
