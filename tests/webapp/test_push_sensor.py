"""The push sensor (issue 7) with build_sensor_context: a payment reaching paid_out and
a deposit credit each reach the payer's browser once (decrypted by the test's
"browser" from a loopback push service); a re-run tick pushes nothing again."""

from __future__ import annotations

import uuid
from datetime import timedelta

import dagster as dg
import pytest
from flask import Flask
from sqlalchemy import select

import pipelines.resources
from pipelines.resources import WalletDatabase
from sensors.notifications import push_notifications_sensor
from tests.webapp.conftest import csrf_from
from tests.webapp.pay_support import market, pay_app
from tests.webapp.test_pay_push import Browser, PushService, _signed_in, _subscribe, push_service
from wallet.db.base import utcnow
from wallet.db.models import OutboxMessage, OutboxStatus, Payment, PaymentSource, Quote
from wallet.db.models.chain import Credit
from wallet.db.models.users import AddressPurpose, WalletAddress
from wallet.notifications import events
from wallet.payments.states import PaymentStatus as S
from wallet.payments.transitions import open_payment, transition
from webapp.extensions import session_factory, settings

__all__ = ["market", "pay_app", "push_service"]  # fixtures


def _paid_out_payment(app: Flask, user_id: int) -> str:
    with app.app_context(), session_factory()() as db, db.begin():
        quote = Quote(
            id=str(uuid.uuid4()), user_id=user_id, asset="SOL", amount_minor=2_000_000,
            amount_inr_paise=3_000, rate="14000", payee_vpa="chai@okaxis",
            expires_at=utcnow() + timedelta(minutes=5),
        )  # fmt: skip
        db.add(quote)
        db.flush()
        payment = Payment(
            id=str(uuid.uuid4()), user_id=user_id, quote_id=quote.id, payee_vpa="chai@okaxis",
            asset="SOL", amount_minor=2_000_000, amount_inr_paise=3_000,
            source=PaymentSource.CUSTODIAL,
        )  # fmt: skip
        open_payment(db, payment, actor="test", reason="opened")
        for step in (S.AWAITING_FUNDS, S.DETECTED, S.CONFIRMED, S.SETTLING, S.PAID_OUT):
            transition(db, payment.id, step, f"test: {step.value}", actor="test")
        return payment.id


def _deposit(app: Flask, user_id: int) -> None:
    with app.app_context(), session_factory()() as db, db.begin():
        db.add(
            WalletAddress(
                user_id=user_id, chain="solana", purpose=AddressPurpose.DEPOSIT,
                address="DepositAddr1111", derivation_index=900,
            )
        )  # fmt: skip
        db.add(
            Credit(
                chain="solana", txid="tx-deposit-1", idx=0, asset="SOL",
                address="DepositAddr1111", amount_minor=1_500_000_000,
            )
        )  # fmt: skip


def test_paid_out_and_deposit_push_once_each(
    pay_app: Flask, push_service: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, user_id = _signed_in(pay_app)
    browser = Browser(push_service.url + "/push/me")
    assert (
        _subscribe(client, browser.subscription, csrf_from(client, "/pay/notices")).status_code
        == 201
    )
    with pay_app.app_context():
        app_settings = settings()
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: app_settings)
    monkeypatch.setattr(events, "SETTLE_SECONDS", 0)  # don't sleep for the settle window
    db = WalletDatabase(database_url=app_settings.resolved_database_url)

    def tick() -> str:
        result = push_notifications_sensor(dg.build_sensor_context(resources={"db": db}))
        assert isinstance(result, dg.SkipReason)
        return result.skip_message or ""

    payment_id = _paid_out_payment(pay_app, user_id)
    _deposit(pay_app, user_id)
    assert tick() == "queued 2; sent 2, retrying 0, dead 0"
    got = sorted((browser.decrypt(body) for _p, _h, body in push_service.received),
                 key=lambda m: m["tag"])  # fmt: skip
    paid_tag = f"push:{user_id}:payment:{payment_id}:paid_out"
    assert got == [
        {"title": "TaskForce Wallet", "body": "Deposit of 1.5 SOL credited", "url": "/wallet",
         "tag": f"push:{user_id}:credit:1"},
        {"title": "TaskForce Wallet", "body": "Vendor paid ₹30.00",
         "url": f"/pay/payments/{payment_id}", "tag": paid_tag},
    ]  # fmt: skip

    # Idempotent per (user, event): the next tick finds nothing new and pushes nothing.
    assert tick() == "queued 0; sent 0, retrying 0, dead 0"
    assert len(push_service.received) == 2
    with pay_app.app_context(), session_factory()() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == events.TOPIC))
        assert {(m.status, m.claimed_by) for m in rows} == {(OutboxStatus.SENT, None)}


def test_an_unreachable_push_service_is_retried_not_lost(
    pay_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, user_id = _signed_in(pay_app)
    closed = Browser("http://127.0.0.1:9/push/nobody")  # nothing listens on port 9
    assert (
        _subscribe(client, closed.subscription, csrf_from(client, "/pay/notices")).status_code
        == 201
    )
    with pay_app.app_context():
        app_settings = settings()
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: app_settings)
    monkeypatch.setattr(events, "SETTLE_SECONDS", 0)
    db = WalletDatabase(database_url=app_settings.resolved_database_url)
    _paid_out_payment(pay_app, user_id)
    result = push_notifications_sensor(dg.build_sensor_context(resources={"db": db}))
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "queued 1; sent 0, retrying 1, dead 0"
    with pay_app.app_context(), session_factory()() as session:
        [message] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == events.TOPIC)
        )
        assert message.status is OutboxStatus.PENDING and message.attempts == 1
        assert message.claimed_by is None and message.last_error
