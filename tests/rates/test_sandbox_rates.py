"""The rates sync, route finder and breakers against the real exchange stand-ins.

Three processes (``python -m sandbox.exchange --venue binance|inr|coinbase``)
on loopback, prices frozen (``--tick-seconds 0``) so the numbers are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import Chain
from wallet.quotes import QuoteConfig, QuoteRequest, make_quote
from wallet.rates.breakers import MemoryPauseStore, run_breakers
from wallet.rates.cache import DatabaseRateCache, MemoryRateCache, RedisRateCache, fresh_rate
from wallet.rates.clients import RateClients, build_rate_clients
from wallet.rates.config import RatesConfig
from wallet.rates.history import MemoryRateHistory, SqlRateHistory
from wallet.rates.refresh import refresh_rates
from wallet.rates.routes import sell_along
from wallet.rates.types import inr_per_unit

testing = pytest.importorskip("sandbox.exchange.testing")

pytestmark = pytest.mark.slow
ALL = ("BTC", "ETH", "SOL", "DOGE", "SHIB", "PEPE", "BONK", "USDC", "USDC-SPL", "USDT")


@pytest.fixture(scope="module")
def venues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    tmp: Path = tmp_path_factory.mktemp("exchanges")
    started: list[Any] = []
    infos: dict[str, dict[str, Any]] = {}
    try:
        for venue in ("binance", "inr", "coinbase"):
            process, info = testing.start_exchange(tmp, venue, tick_seconds=0)
            started.append(process)
            infos[venue] = info
        yield infos
    finally:
        for process in started:
            testing.stop_exchange(process)


@pytest.fixture
def clients(venues: dict[str, dict[str, Any]]) -> Iterator[RateClients]:
    built = build_rate_clients(
        venues["binance"]["settings"]["exchange_url"],
        venues["inr"]["settings"]["inr_exchange_url"],
        venues["coinbase"]["settings"]["coinbase_url"],
    )
    yield built
    built.close()


class Alerts(list[tuple[str, dict[str, Any]]]):
    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self.append((kind, payload))


def test_rates_materialise_from_the_sandbox_into_redis_and_the_fallback(
    clients: RateClients,
    redis_url: str,
    redis_client: Any,
    redis_prefix: str,
    session_factory: sessionmaker[Session],
) -> None:
    config = RatesConfig(assets=ALL, redis_url=redis_url, rate_cache_prefix=redis_prefix)
    alerts = Alerts()
    redis_cache = RedisRateCache.from_url(redis_url, prefix=redis_prefix, ttl_seconds=300)
    now = datetime.now(UTC)
    snap = refresh_rates(
        clients.sources, redis_cache, SqlRateHistory(session_factory), now, alerts, config
    )
    assert snap.source_errors == {}
    assert snap.exclusions == ()
    assert snap.missing == ()
    # BTC: 90,000 USDT × 88 INR on Binance, 79,20,000 INR direct, 90,000 USD × 88 on Coinbase.
    btc = fresh_rate(redis_cache, "BTC", now, 60)
    assert btc.sources == ("binance", "coinbase", "inr")
    assert abs(inr_per_unit("BTC", btc.rate) / 7_920_000 - 1) < Fraction(1, 200)
    bonk = snap.rates["BONK"]
    assert abs(inr_per_unit("BONK", bonk.rate) / Fraction("0.00176") - 1) < Fraction(1, 100)
    assert snap.rates["USDC-SPL"].rate == snap.rates["USDC"].rate
    assert alerts == []

    fallback = DatabaseRateCache(session_factory)
    refresh_rates(clients.sources, fallback, MemoryRateHistory(), now, alerts, config)
    assert fresh_rate(fallback, "BTC", now, 60).rate == btc.rate


def test_quotes_route_over_the_sandbox_books_and_cover_the_amount(clients: RateClients) -> None:
    config = QuoteConfig()
    now = datetime.now(UTC)
    snap = refresh_rates(
        clients.sources, MemoryRateCache(), MemoryRateHistory(), now, config=RatesConfig(assets=ALL)
    )
    books = clients.books()
    assert ("binance", "BONKUSDT") in books and ("inr", "USDTINR") in books
    for asset, inr in (
        ("BONK", 50_000),
        ("BTC", 500_000),
        ("ETH", 2_500_000),
        ("USDC-SPL", 10_000),
    ):
        q = make_quote(
            QuoteRequest(inr, asset, "chai@upi"),
            rates=dict(snap.rates),
            books=books,
            now=now,
            config=config,
        )
        sold = sell_along(q.route, q.crypto_minor, books, config.rates.taker_fee_bps)
        assert sold.proceeds_paise >= inr + q.fees.total_paise
        assert q.route_description.endswith("→INR@inr")


def test_an_emptied_book_pauses_the_asset(
    clients: RateClients, venues: dict[str, dict[str, Any]]
) -> None:
    url = venues["binance"]["url"]
    answer = httpx.post(
        f"{url}/__sandbox/book", json={"symbol": "PEPEUSDT", "mode": "empty"}, trust_env=False
    )
    assert answer.status_code == 200
    try:
        alerts, store = Alerts(), MemoryPauseStore()
        result = run_breakers(
            ["PEPE", "SHIB"],
            datetime.now(UTC),
            history=MemoryRateHistory(),
            books=clients.books(),
            chain_lagging=lambda chain: chain is not Chain.ETHEREUM,
            store=store,
            config=RatesConfig(),
            alert=alerts,
        )
        pepe = result["PEPE"]
        assert pepe is not None and "order book too thin" in pepe.reason
        assert result["SHIB"] is None
        assert [p["asset"] for k, p in alerts if k == "asset_paused"] == ["PEPE"]
    finally:
        httpx.post(
            f"{url}/__sandbox/book", json={"symbol": "PEPEUSDT", "mode": "normal"}, trust_env=False
        )


def test_a_price_jump_on_one_venue_is_excluded_and_alerted(
    clients: RateClients, venues: dict[str, dict[str, Any]]
) -> None:
    url = venues["binance"]["url"]
    config = RatesConfig(assets=("BTC",))
    cache, alerts = MemoryRateCache(), Alerts()
    refresh_rates(clients.sources, cache, MemoryRateHistory(), datetime.now(UTC), alerts, config)
    set_price = {"symbol": "BTCUSDT", "price": "103500"}  # +15 %
    assert httpx.post(f"{url}/__sandbox/price", json=set_price, trust_env=False).status_code == 200
    try:
        snap = refresh_rates(
            clients.sources, cache, MemoryRateHistory(), datetime.now(UTC), alerts, config
        )
    finally:
        restore = {"symbol": "BTCUSDT", "price": "90000"}
        httpx.post(f"{url}/__sandbox/price", json=restore, trust_env=False)
    assert ("binance", "BTC", "jump") in {(e.source, e.asset, e.reason) for e in snap.exclusions}
    assert snap.rates["BTC"].sources == ("coinbase", "inr")
    assert [p["source"] for k, p in alerts if k == "rate_anomaly"] == ["binance"]
