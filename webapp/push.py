"""Web Push (RFC 8030/8291/8292) for payment and deposit events, via pywebpush.

- **VAPID keys.** In production the private key (PEM) comes from
  ``Settings.vapid_private_key`` (a secret; never logged); elsewhere it is
  generated once into ``<var_dir>/vapid_private.pem`` (mode 0600), like the
  other dev keys. Browsers get the public key (``GET /push/key``) as the
  ``applicationServerKey``.
- **Subscriptions.** ``POST /push/subscriptions`` stores what
  ``PushManager.subscribe()`` returned for the signed-in user (JSON with the
  ``X-CSRF-Token`` header); ``POST /push/subscriptions/delete`` forgets one.
- **Sending.** :func:`send_push` is framework-free (a session factory and
  the settings), so the Dagster side can call it when a payment or deposit
  moves. A push service answering 404/410 means the subscription is gone:
  its row is deleted. Messages are encrypted to each browser (aes128gcm).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from py_vapid import Vapid02
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from wallet.config import Settings
from wallet.errors import ConfigurationError, WalletError
from webapp.extensions import settings as app_settings
from webapp.extensions import unit_of_work
from webapp.pay.models import PushSubscription
from webapp.security import login_required, signed_in

log = logging.getLogger(__name__)

bp = Blueprint("push", __name__)

KEY_FILE = "vapid_private.pem"
DEFAULT_SUBJECT = "mailto:ops@taskforce.invalid"


class InvalidSubscription(WalletError):
    code = "invalid_subscription"


def load_vapid(settings: Settings) -> Vapid02:
    """The VAPID signing key: the configured secret, or the dev key under ``var_dir``."""
    secret = getattr(settings, "vapid_private_key", None)
    if secret is not None:
        pem = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
        return Vapid02.from_pem(pem.encode())
    if settings.environment == "production":
        raise ConfigurationError("VAPID_PRIVATE_KEY must be set in production")
    path = Path(settings.var_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = Vapid02()
        fresh.generate_keys()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(fresh.private_pem())
    return Vapid02.from_file(str(path))


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


def send_push(
    factory: sessionmaker[Session],
    settings: Settings,
    user_id: int,
    message: Mapping[str, str],
    *,
    timeout: float = 5.0,
) -> int:
    """Send ``message`` (title, body, url) to every browser of ``user_id``; how many took it."""
    from pywebpush import WebPushException, webpush

    with factory() as session:
        subs = [
            (s.id, s.endpoint, s.p256dh, s.auth)
            for s in session.scalars(
                select(PushSubscription).where(PushSubscription.user_id == user_id)
            )
        ]
    if not subs:
        return 0
    vapid = load_vapid(settings)
    subject = getattr(settings, "vapid_subject", None) or DEFAULT_SUBJECT
    data = json.dumps(dict(message), ensure_ascii=False)
    delivered = 0
    gone: list[int] = []
    for sub_id, endpoint, p256dh, auth in subs:
        info = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
        try:
            webpush(
                info,
                data=data,
                vapid_private_key=vapid,
                vapid_claims={"sub": subject},
                timeout=timeout,
                ttl=3600,
            )
            delivered += 1
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (404, 410):
                gone.append(sub_id)
            else:
                log.warning("push to subscription %s failed (status %s)", sub_id, status)
    if gone:
        with factory() as session, session.begin():
            session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
    return delivered


def payment_message(
    payment_id: str, status: str, amount_inr: str, utr: str | None
) -> dict[str, str]:
    """The notification for a payment step (English; the page itself is localised)."""
    if status in ("paid_out", "completed"):
        body = f"Vendor paid ₹{amount_inr}" + (f" (UTR {utr})" if utr else "")
    else:
        body = f"Payment of ₹{amount_inr}: {status.replace('_', ' ')}"
    return {"title": "TaskForce Wallet", "body": body, "url": f"/pay/payments/{payment_id}"}
