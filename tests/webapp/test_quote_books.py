"""Quotes over cached order books, against the real exchange stand-ins.

The Binance-style and INR stand-ins run in this process as real HTTP
servers on loopback (prices frozen), wrapped so every API request that
reaches them is counted: the refresher fetches books, a quote does not.
The app uses the product's own calculator (rates and books from the
database caches, as the Dagster sensors fill them), not an injected one.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from sandbox.exchange.__main__ import build_app
from sandbox.faults import Faults
from sandbox.http import Request, Response, StandInServer
from sandbox.testing import free_port
from tests.webapp.pay_support import auth, full_sqlite, settings_for, signup
from wallet.db.base import utcnow
from wallet.quotes import QuoteConfig, QuoteRequest, make_quote
from wallet.rates.book_cache import (
    BookCache,
    BookSnapshot,
    DatabaseBookStore,
    MemoryBookStore,
    fresh_books,
    refresh_books,
)
from wallet.rates.cache import fresh_rate
from wallet.rates.clients import RateClients, build_rate_clients
from wallet.rates.config import RatesConfig
from wallet.rates.history import MemoryRateHistory
from wallet.rates.refresh import refresh_rates
from webapp import create_app
from webapp.extensions import rate_cache, session_factory
from webapp.pay.pricing import book_cache

pytestmark = pytest.mark.slow

ASSETS = ("BTC", "ETH", "SOL", "BONK", "USDC-SPL", "USDT")
UPI = "upi://pay?pa=chai.stall@okaxis&pn=Chai%20Stall&am=30.00&cu=INR"


class Counted:
    """A stand-in app that counts the API requests reaching it (admin calls excluded)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.name = app.name
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.hits[request.path] += 1
        response: Response = self.app.handle(request)
        return response

    def health(self) -> dict[str, Any]:
        health: dict[str, Any] = self.app.health()
        return health

    def admin(self, request: Request) -> Response | None:
        answer: Response | None = self.app.admin(request)
        return answer

    def total(self) -> int:
        with self._lock:
            return sum(self.hits.values())


@pytest.fixture(scope="module")
def venues() -> Iterator[dict[str, tuple[str, Counted]]]:
    started: list[StandInServer] = []
    out: dict[str, tuple[str, Counted]] = {}
    try:
        for name in ("binance", "inr"):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            faults = Faults(0)
            counted = Counted(build_app(name, url, faults, seed=0, tick_seconds=0))
            server = StandInServer(counted, "127.0.0.1", port, faults)
            server.start_background()
            started.append(server)
            out[name] = (url, counted)
        yield out
    finally:
        for server in started:
            server.shutdown()
            server.server_close()


def _requests(venues: dict[str, tuple[str, Counted]]) -> int:
    return sum(counted.total() for _url, counted in venues.values())


@pytest.fixture
def clients(venues: dict[str, tuple[str, Counted]]) -> Iterator[RateClients]:
    built = build_rate_clients(venues["binance"][0], venues["inr"][0])
    yield built
    built.close()


@pytest.fixture
def app(tmp_path: Path, venues: dict[str, tuple[str, Counted]]) -> Iterator[Flask]:
    settings = settings_for(
        tmp_path,
        full_sqlite(tmp_path),
        exchange_url=venues["binance"][0],
        inr_exchange_url=venues["inr"][0],
    )
    built = create_app(settings, TESTING=True)
    yield built
    built.extensions["engine"].dispose()


def _refresh_all(app: Flask, clients: RateClients) -> BookSnapshot:
    """What the two Dagster sensors do: rates into the rates cache, books into the book cache."""
    with app.app_context():
        refresh_rates(
            clients.sources,
            rate_cache(),
            MemoryRateHistory(),
            utcnow(),
            config=RatesConfig(assets=ASSETS),
        )
        snapshot = refresh_books(clients.venues, book_cache())
    assert snapshot is not None
    return snapshot


def test_the_refresher_stores_the_stand_ins_books_and_follows_a_price_move(
    app: Flask, clients: RateClients, venues: dict[str, tuple[str, Counted]]
) -> None:
    before = {name: counted.hits["/api/v3/depth"] for name, (_u, counted) in venues.items()}
    first = _refresh_all(app, clients)
    assert {("binance", "BONKUSDT"), ("binance", "BTCUSDT"), ("inr", "USDTINR")} <= set(first.books)
    depth_calls = sum(c.hits["/api/v3/depth"] - before[n] for n, (_u, c) in venues.items())
    assert depth_calls == len(first.books)  # one depth request per book, per refresh

    url = venues["binance"][0]
    moved = {"symbol": "BTCUSDT", "price": "99000"}
    assert httpx.post(f"{url}/__sandbox/price", json=moved, trust_env=False).status_code == 200
    try:
        with app.app_context():
            second = refresh_books(clients.venues, book_cache())
            cached = fresh_books(book_cache(), utcnow(), 30)
    finally:
        restore = {"symbol": "BTCUSDT", "price": "90000"}
        httpx.post(f"{url}/__sandbox/price", json=restore, trust_env=False)
    assert second is not None and second.version != first.version
    old_bid = first.books[("binance", "BTCUSDT")].best_bid
    new_bid = cached[("binance", "BTCUSDT")].best_bid
    assert old_bid is not None and new_bid is not None and new_bid > old_bid * 105 / 100


def test_the_refresher_keeps_at_most_the_configured_depth(clients: RateClients) -> None:
    cache = BookCache(MemoryBookStore())
    snapshot = refresh_books(clients.venues, cache, config=RatesConfig(book_depth_levels=3))
    assert snapshot is not None
    assert all(len(b.bids) <= 3 and len(b.asks) <= 3 for b in snapshot.books.values())
    assert any(len(b.bids) == 3 for b in snapshot.books.values())


def test_cached_books_price_every_quote_exactly_as_live_books(
    app: Flask, clients: RateClients
) -> None:
    live = clients.books()
    _refresh_all(app, clients)
    with app.app_context():
        rates = {a: fresh_rate(rate_cache(), a, utcnow(), 60) for a in ASSETS}
        # A fresh reader, as another web worker would be: it decodes from the database.
        other_worker = BookCache(DatabaseBookStore(session_factory(), prefix="taskforce:rates",
                                                   ttl_seconds=120))  # fmt: skip
        cached = fresh_books(other_worker, utcnow(), 30)
    assert set(cached) == set(live)
    for key, book in live.items():
        assert (cached[key].bids, cached[key].asks) == (book.bids, book.asks)
    now = utcnow()
    config = QuoteConfig()
    for asset, inr in (("BONK", 50_000), ("BTC", 500_000), ("ETH", 2_500_000), ("SOL", 3_000)):
        request = QuoteRequest(inr, asset, "chai@upi")
        from_live = make_quote(request, rates=rates, books=live, now=now, config=config)
        from_cache = make_quote(request, rates=rates, books=cached, now=now, config=config)
        assert from_cache == from_live
        assert from_cache.route_description.endswith("→INR@inr")


def test_quotes_make_no_venue_request_and_stale_books_refuse_them(
    app: Flask, clients: RateClients, venues: dict[str, tuple[str, Counted]]
) -> None:
    from wallet.db.models.payments import Quote

    client: FlaskClient = app.test_client()
    _uid, token = signup(client)
    snapshot = _refresh_all(app, clients)
    requests_before = _requests(venues)

    for asset in ("SOL", "BONK", "BTC", "USDC-SPL", "SOL"):
        resp = client.post("/api/v1/quotes", json={"upi_uri": UPI, "asset": asset},
                           headers=auth(token))  # fmt: skip
        assert resp.status_code == 201, resp.get_data(as_text=True)
    assert _requests(venues) == requests_before  # five quotes, not one venue request

    with app.app_context():
        book_cache().put(
            replace(snapshot, version="old", fetched_at=utcnow() - timedelta(seconds=31))
        )
        with session_factory()() as db:
            stored = db.query(Quote).count()
    resp = client.post("/api/v1/quotes", json={"upi_uri": UPI, "asset": "SOL"}, headers=auth(token))
    assert resp.status_code == 503
    error = resp.get_json()["error"]
    assert error["code"] == "rate_stale" and "order books" in error["message"]
    with app.app_context(), session_factory()() as db:
        assert db.query(Quote).count() == stored  # refused: nothing stored
    assert _requests(venues) == requests_before  # a stale cache is not a reason to fetch inline

    _refresh_all(app, clients)
    resp = client.post("/api/v1/quotes", json={"upi_uri": UPI, "asset": "SOL"}, headers=auth(token))
    assert resp.status_code == 201
