"""Web Push sending (RFC 8030/8291/8292) without any web framework.

The web tier (``webapp/push.py``) stores subscriptions and serves the VAPID
public key; this module signs and encrypts messages to each browser, so the
Dagster side can notify payers when their payment or deposit moves. A push
service answering 404/410 means the subscription is gone: its row is deleted.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from py_vapid import Vapid02
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from wallet.errors import ConfigurationError
from wallet.notifications.models import PushSubscription

log = logging.getLogger(__name__)

KEY_FILE = "vapid_private.pem"
DEFAULT_SUBJECT = "mailto:ops@taskforce.invalid"


def load_vapid(settings: Any) -> Vapid02:
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
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process (web or Dagster) wrote it first; theirs is the key
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(fresh.private_pem())
    return Vapid02.from_file(str(path))


def send_push(
    factory: sessionmaker[Session],
    settings: Any,
    user_id: int,
    message: Mapping[str, str],
    *,
    timeout: float = 5.0,
) -> int:
    """Send ``message`` (title, body, url) to every browser of ``user_id``; how many took it.

    Transport errors other than the push service's answer propagate, so a
    caller with a retry queue can try again later.
    """
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


def deposit_message(amount: str, asset: str) -> dict[str, str]:
    """The notification for a deposit credited to the payer's balance."""
    return {"title": "TaskForce Wallet", "body": f"Deposit of {amount} {asset} credited",
            "url": "/wallet"}  # fmt: skip
