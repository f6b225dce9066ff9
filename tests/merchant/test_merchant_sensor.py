"""The merchant sensor (issue 8) evaluated with build_sensor_context on the app's
database: a paid-out payment reaches the merchant's receiver signed, once; a VPA
change past its cooling-off goes live on the same tick."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
from flask import Flask
from sqlalchemy import select, update

import pipelines.resources
from pipelines.resources import WalletDatabase
from sensors.merchants import merchant_webhooks_sensor
from tests.merchant.support import db, make_payment
from tests.merchant.test_webhooks import Receiver, add_endpoint, receiver
from wallet.db.base import utcnow
from wallet.db.models import Merchant, PaymentStatus
from wallet.merchants import profile, webhooks
from wallet.merchants.config import MerchantConfig
from wallet.merchants.models import DeliveryStatus, MerchantPayoutAccount, WebhookDelivery
from webapp.extensions import settings

__all__ = ["receiver"]


@pytest.fixture
def wired(app: Flask, monkeypatch: pytest.MonkeyPatch) -> WalletDatabase:
    """The sensor reads the same settings (master key) and database as the app."""
    with app.app_context():
        app_settings = settings()
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: app_settings)
    # Events are scanned only once older than SETTLE_SECONDS; don't sleep for it.
    monkeypatch.setattr(webhooks, "SETTLE_SECONDS", 0)
    return WalletDatabase(database_url=app_settings.resolved_database_url)


def _tick(database: WalletDatabase) -> str:
    result = merchant_webhooks_sensor(dg.build_sensor_context(resources={"db": database}))
    assert isinstance(result, dg.SkipReason)
    return result.skip_message or ""


def test_paid_out_payment_is_delivered_signed_exactly_once(
    app: Flask, receiver: Receiver, wired: WalletDatabase
) -> None:
    (_client, merchant), secret = add_endpoint(app, receiver.url, ["payment.paid_out"])
    receiver.secret = secret.encode()
    payment = make_payment(app, merchant, PaymentStatus.PAID_OUT)

    message = _tick(wired)
    assert "enqueued 1; delivered 1" in message
    [got] = receiver.received
    assert got["verified"] is True
    assert got["headers"]["TaskForce-Event-Type"] == "payment.paid_out"
    assert payment.id.encode() in got["body"]

    # The next tick finds nothing new: the cursor moved and the message was sent.
    assert "enqueued 0; delivered 0" in _tick(wired)
    assert len(receiver.received) == 1
    with db(app) as session:
        [delivery] = session.scalars(select(WebhookDelivery)).all()
        assert delivery.status is DeliveryStatus.DELIVERED


def test_receiver_error_is_retried_on_a_later_tick(
    app: Flask, receiver: Receiver, wired: WalletDatabase
) -> None:
    (_client, merchant), secret = add_endpoint(app, receiver.url)
    receiver.secret = secret.encode()
    receiver.script.append((503, {}))
    make_payment(app, merchant, PaymentStatus.FAILED)

    assert "retrying 1" in _tick(wired)
    # Not due yet: backoff, so the next tick sends nothing.
    assert "delivered 0, retrying 0" in _tick(wired)
    with db(app) as session:
        session.execute(update(webhooks.OutboxMessage).values(next_attempt_at=utcnow()))
    assert "delivered 1" in _tick(wired)
    assert [r["verified"] for r in receiver.received] == [True, True]


def test_vpa_change_past_cooling_off_goes_live(app: Flask, wired: WalletDatabase) -> None:
    (_client, merchant), _secret = add_endpoint(app, "http://127.0.0.1:9/unused")
    with db(app) as session:
        live = session.get_one(Merchant, merchant.id)
        check = profile.VpaCheck("newshop@okicici", "Ramu Kumar", "fa_new")
        row = profile.request_vpa_change(
            session, live, check, actor="test", now=utcnow(), config=MerchantConfig()
        )
        row_id = row.id
    assert "VPA changes applied 0" in _tick(wired)  # still cooling off
    with db(app) as session:
        session.execute(
            update(MerchantPayoutAccount)
            .where(MerchantPayoutAccount.id == row_id)
            .values(effective_at=utcnow() - timedelta(seconds=1))
        )
    assert "VPA changes applied 1" in _tick(wired)
    with db(app) as session:
        assert session.get_one(Merchant, merchant.id).upi_vpa == "newshop@okicici"
