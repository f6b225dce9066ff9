"""POST /webhooks/razorpayx: verified over the raw body, no cookie or CSRF needed."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from tests.payouts.test_webhooks import envelope, headers
from wallet.settlement.models import PayoutWebhookEvent


def _events(app: Flask) -> int:
    with app.extensions["sessions"]() as session:
        return int(session.scalar(select(func.count()).select_from(PayoutWebhookEvent)) or 0)


def test_signed_delivery_is_accepted_and_deduplicated(app: Flask) -> None:
    secret = app.extensions["settings"].razorpayx_webhook_secret.get_secret_value()
    body = envelope()
    client = app.test_client()
    first = client.post("/webhooks/razorpayx", data=body, headers=headers(body, secret))
    again = client.post("/webhooks/razorpayx", data=body, headers=headers(body, secret))
    assert first.status_code == 200, first.get_json()
    assert again.status_code == 200
    # Not one of our payouts: acknowledged (so the provider stops retrying), nothing moves.
    assert first.get_json()["status"] in {"ignored", "applied"}
    assert again.get_json()["status"] in {"duplicate", "ignored"}


def test_tampered_or_unsigned_delivery_is_rejected_and_changes_nothing(app: Flask) -> None:
    secret = app.extensions["settings"].razorpayx_webhook_secret.get_secret_value()
    body = envelope()
    signed = headers(body, secret)
    client = app.test_client()
    tampered = client.post(
        "/webhooks/razorpayx", data=body.replace(b"1000000", b"9000000"), headers=signed
    )
    wrong = client.post("/webhooks/razorpayx", data=body, headers=headers(body, "not-it"))
    missing = client.post("/webhooks/razorpayx", data=body)
    for response in (tampered, wrong, missing):
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "webhook_signature_invalid"
    assert _events(app) == 0
