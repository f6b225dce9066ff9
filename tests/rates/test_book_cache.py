"""The order-book cache: exact round trips in every store, one decode per version, staleness."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sandbox.testing import free_port
from tests.rates.builders import T0, asset_rate, book, books
from wallet.quotes import QuoteConfig, QuoteRequest, make_quote
from wallet.rates.book_cache import (
    BookCache,
    BookSnapshot,
    DatabaseBookStore,
    MemoryBookStore,
    RedisBookStore,
    decode_snapshot,
    encode_snapshot,
    fresh_books,
    make_book_cache,
    refresh_books,
)
from wallet.rates.books import Level, OrderBook
from wallet.rates.config import RatesConfig
from wallet.rates.errors import StaleBooks, StaleRate
from wallet.rates.venues import SpotVenueClient

# Prices and sizes that no float or short decimal carries exactly.
BONK = book(
    "binance",
    "BONK",
    "USDT",
    [("0.00002134", "123456789.123"), ("0.00002133", "0.00000001"), ("0.000021", "7")],
)
USDT = book("inr", "USDT", "INR", [("88.07", "1000000"), ("88.06", "3.33333333")])
SNAPSHOT = BookSnapshot("v1", T0, books(BONK, USDT))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _round_trip(cache: BookCache) -> None:
    assert cache.latest() is None
    cache.put(SNAPSHOT)
    got = cache.latest()
    assert got is not None
    assert got == SNAPSHOT  # markets, every level's exact Fractions, fetch times, version


def test_a_snapshot_encodes_exactly_with_thirds_and_asks() -> None:
    third = BookSnapshot(
        "v2",
        T0,
        {
            ("inr", "USDTINR"): OrderBook(
                USDT.market,
                (Level(USDT.bids[0].price / 3, USDT.bids[0].qty / 7),),
                (Level(USDT.bids[0].price * 2 / 3, USDT.bids[1].qty),),
                T0 - timedelta(seconds=1),
            )
        },
    )
    assert decode_snapshot(encode_snapshot(third)) == third
    assert decode_snapshot(encode_snapshot(SNAPSHOT)) == SNAPSHOT


def test_memory_store_round_trips_and_expires_on_its_clock() -> None:
    clock = Clock(T0)
    cache = BookCache(MemoryBookStore(ttl_seconds=120, clock=clock))
    _round_trip(cache)
    clock.now = T0 + timedelta(seconds=121)
    assert cache.latest() is None


def test_database_store_round_trips_in_the_rate_cache_table(
    session_factory: sessionmaker[Session],
) -> None:
    store = DatabaseBookStore(session_factory, prefix="t", ttl_seconds=120)
    _round_trip(BookCache(store))
    # A second process (another web worker) reads the same snapshot.
    assert BookCache(DatabaseBookStore(session_factory, prefix="t", ttl_seconds=120)).latest() == (
        SNAPSHOT
    )


def test_redis_store_round_trips_with_ttl_and_namespaced_keys(
    redis_client: Any, redis_prefix: str
) -> None:
    _round_trip(BookCache(RedisBookStore(redis_client, prefix=redis_prefix, ttl_seconds=120)))
    keys = sorted(k.decode() for k in redis_client.scan_iter(match=f"{redis_prefix}:*"))
    assert keys == [f"{redis_prefix}:books:snapshot", f"{redis_prefix}:books:version"]
    assert all(0 < redis_client.ttl(k) <= 120 for k in keys)


def test_make_book_cache_picks_redis_then_the_database_then_memory(
    redis_url: str, redis_client: Any, redis_prefix: str, session_factory: sessionmaker[Session]
) -> None:
    redis_config = RatesConfig(redis_url=redis_url, rate_cache_prefix=redis_prefix)
    assert isinstance(make_book_cache(redis_config, session_factory).store, RedisBookStore)
    assert isinstance(make_book_cache(RatesConfig(), session_factory).store, DatabaseBookStore)
    assert isinstance(make_book_cache(RatesConfig()).store, MemoryBookStore)


def test_a_process_decodes_each_version_once_and_keeps_only_the_latest(
    session_factory: sessionmaker[Session],
) -> None:
    writer = BookCache(DatabaseBookStore(session_factory, prefix="t", ttl_seconds=120))
    reader = BookCache(DatabaseBookStore(session_factory, prefix="t", ttl_seconds=120))
    writer.put(SNAPSHOT)
    first = reader.latest()
    assert first is not None and reader.latest() is first  # same object: no second decode
    newer = BookSnapshot("v2", T0 + timedelta(seconds=10), books(USDT))
    writer.put(newer)
    second = reader.latest()
    assert second == newer and second is not first
    assert reader.latest() is second


def test_fresh_books_refuse_missing_or_old_snapshots_with_the_stale_rate_code() -> None:
    cache = BookCache(MemoryBookStore(clock=Clock(T0)))
    with pytest.raises(StaleBooks, match="no current order books") as missing:
        fresh_books(cache, T0, 30)
    assert missing.value.code == "rate_stale" and missing.value.http_status == 503
    assert isinstance(missing.value, StaleRate)
    cache.put(SNAPSHOT)
    assert fresh_books(cache, T0 + timedelta(seconds=30), 30) == SNAPSHOT.books
    with pytest.raises(StaleBooks, match="31 s old"):
        fresh_books(cache, T0 + timedelta(seconds=31), 30)


def test_make_quote_drops_books_older_than_the_book_limit() -> None:
    config = QuoteConfig(rates=RatesConfig(book_max_age_seconds=30))
    btc = book("binance", "BTC", "USDT", [("90000.00", "5")], at=T0 - timedelta(seconds=31))
    usdt = book("inr", "USDT", "INR", [("88.00", "1000000")])
    with pytest.raises(StaleBooks, match="order books are stale"):
        make_quote(
            QuoteRequest(100_000, "BTC"),
            rates={"BTC": asset_rate("BTC", "7920000")},
            books=books(btc, usdt),
            now=T0,
            config=config,
        )


def test_a_refresh_with_no_venue_answering_keeps_the_old_snapshot() -> None:
    cache = BookCache(MemoryBookStore())
    cache.put(SNAPSHOT)
    nobody = SpotVenueClient("binance", f"http://127.0.0.1:{free_port()}")
    try:
        assert refresh_books({"binance": nobody}, cache) is None
    finally:
        nobody.close()
    assert cache.latest() == SNAPSHOT


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_recheck_interval_skips_store_reads_until_it_passes() -> None:
    store = MemoryBookStore(clock=Clock(T0))
    ticks = Ticks()
    reader = BookCache(store, recheck_seconds=1.0, monotonic=ticks)
    BookCache(store).put(SNAPSHOT)
    assert reader.latest() == SNAPSHOT
    newer = BookSnapshot("v2", T0 + timedelta(seconds=10), books(USDT))
    BookCache(store).put(newer)  # another process refreshes
    ticks.t += 0.5
    assert reader.latest() == SNAPSHOT  # within the second: no store read
    ticks.t += 0.6
    assert reader.latest() == newer
    # The age gate runs on the snapshot's own time, whatever the recheck served.
    with pytest.raises(StaleBooks):
        fresh_books(reader, T0 + timedelta(seconds=41), 30)
