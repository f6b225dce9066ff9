"""Shared set-up for merchant and admin tests: an app on a fresh SQLite file with
every table, users of each role, and payments built through the state machine."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import webapp.pay.models  # noqa: F401 - registers every table the pages read
from tests.accounts.helpers import FAST_HASHER, PASSWORD, unique_email
from tests.webapp.conftest import settings_for
from wallet.accounts import passwords
from wallet.accounts.service import create_user
from wallet.db.base import Base, utcnow
from wallet.db.models import (
    Merchant,
    Payment,
    PaymentSource,
    PaymentStatus,
    Payout,
    PayoutStatus,
    Quote,
    Role,
    User,
)
from wallet.db.session import make_engine, transaction
from wallet.merchants import profile
from wallet.payments.transitions import open_payment, transition
from webapp import create_app
from webapp.extensions import session_factory

S = PaymentStatus
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

# Paths through the state machine to each status a test needs.
PATHS: dict[PaymentStatus, Sequence[PaymentStatus]] = {
    S.QUOTE_ISSUED: (),
    S.AWAITING_FUNDS: (S.AWAITING_FUNDS,),
    S.CONFIRMED: (S.AWAITING_FUNDS, S.DETECTED, S.CONFIRMED),
    S.SETTLING: (S.AWAITING_FUNDS, S.DETECTED, S.CONFIRMED, S.SETTLING),
    S.PAID_OUT: (S.AWAITING_FUNDS, S.DETECTED, S.CONFIRMED, S.SETTLING, S.PAID_OUT),
    S.COMPLETED: (S.AWAITING_FUNDS, S.DETECTED, S.CONFIRMED, S.SETTLING, S.PAID_OUT, S.COMPLETED),
    S.HELD_FOR_REVIEW: (S.AWAITING_FUNDS, S.DETECTED, S.CONFIRMED, S.HELD_FOR_REVIEW),
    S.FAILED: (S.FAILED,),
}


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "hasher", lambda: FAST_HASHER)
    monkeypatch.setattr(passwords, "_dummy_hash", lambda: FAST_HASHER.hash("nobody"))


def fresh_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    settings = settings_for(tmp_path, fresh_sqlite(tmp_path))
    built = create_app(
        settings, TESTING=True, ADMIN_PROBE_CHAINS=False, DAGSTER_URL="http://127.0.0.1:9"
    )
    yield built
    built.extensions["engine"].dispose()


def db(app: Flask) -> Any:
    """A transaction on the app's database (use as a context manager)."""
    with app.app_context():
        factory = session_factory()
    return transaction(factory)


def csrf(client: FlaskClient, path: str) -> str:
    match = _CSRF_RE.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def login(client: FlaskClient, email: str) -> None:
    token = csrf(client, "/login")
    resp = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)


def new_user(app: Flask, role: Role) -> User:
    with db(app) as session:
        return create_user(session, unique_email(role.value), PASSWORD, role)


def new_merchant(
    app: Flask, vpa: str | None = None, name: str = "Ramu Chai Stall"
) -> tuple[User, Merchant]:
    user = new_user(app, Role.MERCHANT)
    vpa = vpa or f"shop{uuid.uuid4().hex[:6]}@okaxis"
    with db(app) as session:
        live = session.get_one(User, user.id)
        check = profile.VpaCheck(vpa, "Ramu Kumar", "fa_test")
        merchant = profile.create_profile(session, live, name, check, now=utcnow())
    return user, merchant


def signed_in(app: Flask, role: Role = Role.MERCHANT) -> tuple[FlaskClient, User, Merchant | None]:
    """A client signed in as a new user of ``role`` (merchants get a profile)."""
    client = app.test_client()
    if role is Role.MERCHANT:
        user, merchant = new_merchant(app)
    else:
        user, merchant = new_user(app, role), None
    login(client, user.email)
    return client, user, merchant


def make_payment(
    app: Flask,
    merchant: Merchant | None,
    status: PaymentStatus = S.COMPLETED,
    *,
    amount_paise: int = 25_000,
    asset: str = "SOL",
    source: PaymentSource = PaymentSource.EXTERNAL,
    created_at: datetime | None = None,
    payer: User | None = None,
    payout: tuple[PayoutStatus, str | None] | None = None,
) -> Payment:
    """A payment walked through the state machine to ``status`` (timeline included)."""
    with db(app) as session:
        if payer is None:
            payer = User(email=unique_email("payer"), password_hash="x", role=Role.PAYER)
            session.add(payer)
            session.flush()
        vpa = merchant.upi_vpa if merchant else "someone@okaxis"
        quote = Quote(
            id=str(uuid.uuid4()),
            user_id=payer.id,
            asset=asset,
            amount_minor=1_000_000_000 if asset == "SOL" else 10**15,
            amount_inr_paise=amount_paise,
            rate="14000",
            payee_vpa=vpa,
            payee_name=merchant.display_name if merchant else None,
            expires_at=utcnow() + timedelta(minutes=5),
        )
        session.add(quote)
        session.flush()
        payment = Payment(
            id=str(uuid.uuid4()),
            user_id=payer.id,
            quote_id=quote.id,
            merchant_id=merchant.id if merchant else None,
            payee_vpa=vpa,
            payee_name=quote.payee_name,
            asset=asset,
            amount_minor=quote.amount_minor,
            amount_inr_paise=amount_paise,
            source=source,
        )
        if created_at is not None:
            payment.created_at = created_at
        open_payment(session, payment, actor="test", reason="opened")
        for step in PATHS[status]:
            transition(session, payment.id, step, f"test: {step.value}", actor="test")
        if payout is not None:
            session.add(
                Payout(
                    idempotency_key=str(uuid.uuid4()),
                    payment_id=payment.id,
                    amount_paise=amount_paise,
                    vpa=vpa,
                    status=payout[0],
                    utr=payout[1],
                )
            )
        session.flush()
        return session.get_one(Payment, payment.id)
