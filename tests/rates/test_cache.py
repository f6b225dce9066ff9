"""Rate caches: real Redis, the database fallback and memory; rate history in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.rates.builders import T0, FixedSource
from wallet.rates.cache import (
    DatabaseRateCache,
    MemoryRateCache,
    RateCache,
    RedisRateCache,
    fresh_rate,
    make_rate_cache,
)
from wallet.rates.config import RatesConfig
from wallet.rates.errors import StaleRate
from wallet.rates.history import SqlRateHistory
from wallet.rates.models import MEDIAN_SOURCE, RateHistory
from wallet.rates.refresh import refresh_rates
from wallet.rates.types import AssetRate, inr_per_unit

SHIB = AssetRate("SHIB", Fraction(1056, 10**17 * 3), T0, ("binance", "inr"), T0)  # exact thirds


def _round_trip(cache: RateCache) -> None:
    cache.put_rates([SHIB])
    assert cache.get_rate("SHIB") == SHIB  # exact: numerator and denominator survive
    assert cache.get_rate("BTC") is None
    cache.put_source_values({("binance", "SHIB"): Fraction(1, 3), ("inr", "SHIB"): Fraction(2)})
    got = cache.get_source_values([("binance", "SHIB"), ("inr", "SHIB"), ("x", "SHIB")])
    assert got == {("binance", "SHIB"): Fraction(1, 3), ("inr", "SHIB"): Fraction(2)}


def test_redis_cache_round_trips_exactly_with_ttl_and_namespaced_keys(
    redis_client: Any, redis_prefix: str
) -> None:
    cache = RedisRateCache(redis_client, prefix=redis_prefix, ttl_seconds=120)
    _round_trip(cache)
    key = f"{redis_prefix}:rate:SHIB"
    assert 0 < redis_client.ttl(key) <= 120
    assert sorted(k.decode() for k in redis_client.scan_iter(match=f"{redis_prefix}:*")) == [
        f"{redis_prefix}:rate:SHIB",
        f"{redis_prefix}:src:binance:SHIB",
        f"{redis_prefix}:src:inr:SHIB",
    ]


def test_the_sync_writes_to_redis_when_redis_url_is_set(
    redis_url: str, redis_client: Any, redis_prefix: str, session_factory: sessionmaker[Session]
) -> None:
    config = RatesConfig(assets=("BTC",), redis_url=redis_url, rate_cache_prefix=redis_prefix)
    cache = make_rate_cache(config, session_factory)
    assert isinstance(cache, RedisRateCache)
    now = datetime.now(T0.tzinfo)
    sources = [FixedSource("a", {"BTC": "7920000"}, now), FixedSource("b", {"BTC": "7930000"}, now)]
    snap = refresh_rates(sources, cache, SqlRateHistory(session_factory), now, config=config)

    # A second client (another process) reads the same exact rate.
    reader = RedisRateCache.from_url(redis_url, prefix=redis_prefix, ttl_seconds=1)
    rate = fresh_rate(reader, "BTC", now, 60)
    assert rate.rate == snap.rates["BTC"].rate
    assert inr_per_unit("BTC", rate.rate) == 7_925_000
    assert redis_client.exists(f"{redis_prefix}:src:a:BTC") == 1


def test_database_cache_is_the_cross_process_fallback(
    session_factory: sessionmaker[Session],
) -> None:
    config = RatesConfig(assets=("BTC",), redis_url=None)
    assert isinstance(make_rate_cache(config, session_factory), DatabaseRateCache)
    clock = [T0]
    writer = DatabaseRateCache(session_factory, ttl_seconds=300, clock=lambda: clock[0])
    _round_trip(writer)
    _round_trip(writer)  # rewriting the same keys is an upsert, not a duplicate

    # A second cache instance (as the web process holds) reads what the sync wrote.
    reader = DatabaseRateCache(session_factory, ttl_seconds=300, clock=lambda: clock[0])
    assert reader.get_rate("SHIB") == SHIB
    clock[0] = T0 + timedelta(seconds=301)
    assert reader.get_rate("SHIB") is None
    assert reader.get_source_values([("binance", "SHIB")]) == {}


def test_memory_cache_expires_on_its_clock_and_staleness_is_judged_on_observation_time() -> None:
    clock = [T0]
    cache = MemoryRateCache(ttl_seconds=300, clock=lambda: clock[0])
    _round_trip(cache)
    assert make_rate_cache(RatesConfig(redis_url=None)).__class__ is MemoryRateCache
    with pytest.raises(StaleRate):
        fresh_rate(cache, "SHIB", T0 + timedelta(seconds=61), 60)  # still cached, but old
    clock[0] = T0 + timedelta(seconds=301)
    assert cache.get_rate("SHIB") is None


def test_history_records_sources_and_medians_exactly(
    session_factory: sessionmaker[Session],
) -> None:
    history = SqlRateHistory(session_factory)
    config = RatesConfig(assets=("SHIB", "BTC"))
    sources = [
        FixedSource("a", {"SHIB": "0.001056", "BTC": "7920000"}),
        FixedSource("b", {"SHIB": "0.001057", "BTC": "7930000"}),
    ]
    snap = refresh_rates(sources, MemoryRateCache(clock=lambda: T0), history, T0, config=config)
    with session_factory() as session:
        rows = session.scalars(select(RateHistory).order_by(RateHistory.id)).all()
    assert len(rows) == 6
    medians = {r.asset: r for r in rows if r.source == MEDIAN_SOURCE}
    assert Fraction(medians["SHIB"].rate_num, medians["SHIB"].rate_den) == snap.rates["SHIB"].rate
    assert str(medians["SHIB"].inr_per_unit) == "0.001056500000"
    assert str(medians["BTC"].inr_per_unit) == "7925000.000000000000"
    assert history.window("BTC", T0 - timedelta(seconds=1)) == [(T0, snap.rates["BTC"].rate)]
    assert history.window("BTC", T0 + timedelta(seconds=1)) == []


def test_recent_rates_reread_an_asset_at_most_every_recheck_interval() -> None:
    from wallet.rates.cache import RecentRates

    ticks = [100.0]
    inner = MemoryRateCache()
    view = RecentRates(inner, 1.0, monotonic=lambda: ticks[0])
    assert view.get_rate("SHIB") is None  # a miss is not remembered
    inner.put_rates([SHIB])
    assert view.get_rate("SHIB") == SHIB
    newer = AssetRate("SHIB", SHIB.rate * 2, T0 + timedelta(seconds=30), ("inr",), T0)
    inner.put_rates([newer])  # the sync, from another process
    ticks[0] += 0.9
    assert view.get_rate("SHIB") == SHIB
    ticks[0] += 0.2
    assert view.get_rate("SHIB") == newer
    with pytest.raises(StaleRate):  # freshness still runs on observed_at
        fresh_rate(view, "SHIB", T0 + timedelta(seconds=91), 60)
