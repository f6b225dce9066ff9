"""Fixtures and helpers for the payer-flow tests (API, pages, browser).

The app runs on a fresh SQLite file holding every table (core, accounts,
rates, settlement, custody, push). Prices come from the real quote maths
(:func:`wallet.quotes.make_quote`) over fixed INR order books and rates
stamped "now" by a clock the test controls, so quotes can be made already
expired.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

import wallet.custody.models
import wallet.db.all_models  # noqa: F401
import webapp.pay.models  # noqa: F401 - registers every table
from tests.accounts.helpers import PASSWORD, unique_email
from wallet.config import Settings
from wallet.db.base import Base, utcnow
from wallet.db.models.users import User
from wallet.db.session import make_engine
from wallet.ledger import post_entry, user_wallet
from wallet.quotes import QuoteCalculation, QuoteConfig, QuoteRequest, make_quote
from wallet.rates.books import Level, Market, OrderBook
from wallet.rates.cache import MemoryRateCache
from wallet.rates.routes import Books, book_key
from wallet.rates.types import AssetRate, rate_from_inr_price
from webapp import create_app
from webapp.extensions import session_factory

SECRET = SecretStr(base64.b64encode(b"k" * 32).decode())
# ₹ per whole coin on the test INR venue.
PRICES = {"SOL": "14000", "ETH": "250000", "BTC": "5000000", "DOGE": "15", "USDC": "84"}
VPA = "chai.stall@okaxis"
UPI = f"upi://pay?pa={VPA}&pn=Chai%20Stall&am=30.00&cu=INR"
STATIC_UPI = f"upi://pay?pa={VPA}&pn=Chai%20Stall"


@dataclass
class PriceBoard:
    """The market the test controls: a clock offset and the prices."""

    offset: timedelta = timedelta(0)
    prices: dict[str, str] = field(default_factory=lambda: dict(PRICES))
    calls: int = 0

    def now(self) -> datetime:
        return utcnow() + self.offset

    def books(self, now: datetime) -> Books:
        out: Books = {}
        for asset, price in self.prices.items():
            market = Market("inr", f"{asset}INR", asset, "INR")
            level = Level(Fraction(price), Fraction(1_000_000))
            out[book_key(market)] = OrderBook(market, (level,), (), now)
        return out

    def rates(self, now: datetime) -> dict[str, AssetRate]:
        return {
            a: AssetRate(a, rate_from_inr_price(a, Fraction(p)), now, ("test",), now)
            for a, p in self.prices.items()
        }

    def calculator(self) -> Callable[[QuoteRequest], QuoteCalculation]:
        def calculate(request: QuoteRequest) -> QuoteCalculation:
            self.calls += 1
            now = self.now()
            return make_quote(
                request,
                rates=self.rates(now),
                books=self.books(now),
                now=now,
                config=QuoteConfig(),
            )

        return calculate


def settings_for(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "var_dir": tmp_path,
        "database_url": url,
        "secret_key": SECRET,
        "wallet_master_key": SECRET,
        "redis_url": None,
    }
    values.update(overrides)
    return Settings(**values)


def full_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'pay.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


def build_app(tmp_path: Path, market: PriceBoard, **config: Any) -> Flask:
    url = full_sqlite(tmp_path)
    config.setdefault("TESTING", True)
    app = create_app(settings_for(tmp_path, url), **config)
    app.extensions["quote_calculator"] = market.calculator()
    cache = MemoryRateCache()
    cache.put_rates(market.rates(utcnow()).values())
    app.extensions["rate_cache"] = cache
    return app


@pytest.fixture
def market() -> PriceBoard:
    return PriceBoard()


@pytest.fixture
def pay_app(tmp_path: Path, market: PriceBoard) -> Iterator[Flask]:
    app = build_app(tmp_path, market)
    yield app
    app.extensions["engine"].dispose()


def signup(client: FlaskClient) -> tuple[int, str]:
    resp = client.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    user_id = int(body["user"]["id"])
    # Fully verified (KYC tier 2), as an admin would approve: the flows here pay
    # amounts above the tier-0 risk limits (tests/risk covers the tiers themselves).
    with client.application.app_context(), session_factory()() as db, db.begin():
        db.get_one(User, user_id).kyc_tier = 2
    return user_id, str(body["token"])


def fund(app: Flask, user_id: int, asset: str, minor: int) -> None:
    """Credit the payer's wallet as a confirmed deposit would."""
    with app.app_context(), session_factory()() as db, db.begin():
        post_entry(
            db,
            [
                (f"external:deposits:{asset}", asset, minor),
                (user_wallet(user_id, asset), asset, -minor),
            ],
            kind="test.deposit",
            ref=f"dep-{uuid.uuid4().hex[:12]}",
        )


def auth(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers
