"""Web Push (RFC 8030/8291/8292) for payment and deposit events, via pywebpush.

- **VAPID keys.** In production the private key (PEM) comes from
  ``Settings.vapid_private_key`` (a secret; never logged); elsewhere it is
  generated once into ``<var_dir>/vapid_private.pem`` (mode 0600), like the
  other dev keys. Browsers get the public key (``GET /push/key``) as the
  ``applicationServerKey``.
- **Subscriptions.** ``POST /push/subscriptions`` stores what
  ``PushManager.subscribe()`` returned for the signed-in user (JSON with the
  ``X-CSRF-Token`` header); ``POST /push/subscriptions/delete`` forgets one.
- **Sending.** :func:`send_push` lives in :mod:`wallet.notifications.push`
  (framework-free; re-exported here), so the Dagster side calls it when a
  payment or deposit moves. A push service answering 404/410 means the
  subscription is gone: its row is deleted. Messages are encrypted to each
  browser (aes128gcm).
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from py_vapid import Vapid02
from sqlalchemy import delete

from wallet.errors import WalletError
from wallet.notifications.models import PushSubscription
from wallet.notifications.push import (
    DEFAULT_SUBJECT,
    KEY_FILE,
    deposit_message,
    load_vapid,
    payment_message,
    send_push,
)
from webapp.extensions import settings as app_settings
from webapp.extensions import unit_of_work
from webapp.security import login_required, signed_in

log = logging.getLogger(__name__)

bp = Blueprint("push", __name__)

__all__ = [
    "DEFAULT_SUBJECT",
    "KEY_FILE",
    "application_server_key",
    "bp",
    "deposit_message",
    "load_vapid",
    "payment_message",
    "send_push",
    "validate_subscription",
]


class InvalidSubscription(WalletError):
    code = "invalid_subscription"


def application_server_key(vapid: Vapid02) -> str:
    """The public key as browsers want it: base64url of the uncompressed P-256 point."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64url_len(value: object, length: int, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise InvalidSubscription(f"keys.{field} is missing")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise InvalidSubscription(f"keys.{field} is not base64url") from None
    if len(raw) != length:
        raise InvalidSubscription(f"keys.{field} must be {length} bytes")
    return value


def validate_subscription(data: Any, *, production: bool) -> tuple[str, str, str]:
    """``(endpoint, p256dh, auth)`` from a ``PushSubscription.toJSON()`` body."""
    if not isinstance(data, dict):
        raise InvalidSubscription("send the subscription as a JSON object")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 2048:
        raise InvalidSubscription("endpoint is missing")
    parts = urlsplit(endpoint)
    loopback = parts.hostname in ("127.0.0.1", "localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback and not production):
        raise InvalidSubscription("endpoint must be an https URL")
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise InvalidSubscription("keys are missing")
    return (
        endpoint,
        _b64url_len(keys.get("p256dh"), 65, "p256dh"),
        _b64url_len(keys.get("auth"), 16, "auth"),
    )


@bp.get("/push/key")
def public_key() -> ResponseReturnValue:
    """The VAPID public key (the browser's ``applicationServerKey``)."""
    return jsonify({"public_key": application_server_key(load_vapid(app_settings()))})


@bp.post("/push/subscriptions")
@login_required
def subscribe() -> ResponseReturnValue:
    """Store this browser's subscription for the signed-in user (replacing its old one)."""
    user, _row = signed_in()
    production = app_settings().environment == "production"
    endpoint, p256dh, auth = validate_subscription(
        request.get_json(silent=True), production=production
    )
    with unit_of_work() as db:
        db.execute(delete(PushSubscription).where(PushSubscription.endpoint == endpoint))
        db.add(
            PushSubscription(
                user_id=user.id,
                endpoint=endpoint,
                p256dh=p256dh,
                auth=auth,
                user_agent=(request.headers.get("User-Agent") or "")[:200] or None,
            )
        )
    return jsonify({"subscribed": True}), 201


@bp.post("/push/subscriptions/delete")
@login_required
def unsubscribe() -> ResponseReturnValue:
    """Forget one of the user's own subscriptions (another user's endpoint is untouched)."""
    user, _row = signed_in()
    data = request.get_json(silent=True)
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    if not isinstance(endpoint, str):
        raise InvalidSubscription("endpoint is missing")
    with unit_of_work() as db:
        result = db.execute(
            delete(PushSubscription).where(
                PushSubscription.endpoint == endpoint, PushSubscription.user_id == user.id
            )
        )
    return jsonify({"deleted": int(getattr(result, "rowcount", 0) or 0)})
