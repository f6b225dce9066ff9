"""Circuit breakers: trip on a price jump, a thin book, a lagging chain; recover after cooldown."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tests.rates.builders import T0, asset_rate, book, books
from wallet.assets import Chain
from wallet.quotes import QuoteConfig, QuoteRequest, make_quote
from wallet.rates.breakers import MemoryPauseStore, SqlPauseStore, run_breakers
from wallet.rates.config import RatesConfig
from wallet.rates.errors import AssetPaused
from wallet.rates.history import SqlRateHistory
from wallet.rates.models import MEDIAN_SOURCE, AssetPause
from wallet.rates.routes import Books
from wallet.rates.types import RateObservation, rate_from_inr_price

CONFIG = RatesConfig(breaker_window_seconds=300, breaker_cooldown_seconds=300)
DEEP: Books = books(
    book("binance", "BTC", "USDT", [("90000.00", "50")]),
    book("inr", "USDT", "INR", [("88.00", "10000000")]),
)


class Alerts(list[tuple[str, dict[str, Any]]]):
    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self.append((kind, payload))


def _median(at_s: int, inr: str) -> RateObservation:
    rate = rate_from_inr_price("BTC", Fraction(inr))
    return RateObservation(MEDIAN_SOURCE, "BTC", rate, T0 + timedelta(seconds=at_s))


def _not_lagging(chain: Chain) -> bool:
    return False


def test_breaker_trips_on_a_price_jump_and_recovers_after_cooldown(
    session_factory: sessionmaker[Session],
) -> None:
    history, store, alerts = (
        SqlRateHistory(session_factory),
        SqlPauseStore(session_factory),
        Alerts(),
    )

    def evaluate(at_s: int) -> Any:
        return run_breakers(
            ["BTC"],
            T0 + timedelta(seconds=at_s),
            history=history,
            books=DEEP,
            chain_lagging=_not_lagging,
            store=store,
            config=CONFIG,
            alert=alerts,
        )["BTC"]

    history.append([_median(0, "7920000"), _median(30, "7920000")])
    assert evaluate(30) is None

    history.append([_median(60, "8800000")])  # +11.1 % in a minute; majors allow 8 %
    pause = evaluate(60)
    assert pause is not None and "price moved 11.11%" in pause.reason
    assert [k for k, _ in alerts] == ["asset_paused"]

    # A new quote is refused, saying why.
    now = T0 + timedelta(seconds=61)
    with pytest.raises(AssetPaused, match=r"price moved 11\.11%") as exc:
        make_quote(
            QuoteRequest(100_000, "BTC"),
            rates={"BTC": asset_rate("BTC", "8800000", at=now)},
            books=DEEP,
            now=now,
            config=QuoteConfig(),
            pause=store.active("BTC"),
        )
    assert exc.value.code == "asset_paused"

    history.append([_median(120, "8800000"), _median(400, "8800000")])
    assert evaluate(120) is not None  # the old price is still in the window: trip extended
    assert evaluate(400) is not None  # clear now, but only 280 s since the last trip
    assert [k for k, _ in alerts] == ["asset_paused"]
    assert evaluate(420) is None  # 300 s clear: resumed
    assert [k for k, _ in alerts] == ["asset_paused", "asset_resumed"]
    assert store.active("BTC") is None

    with session_factory() as session:
        row = session.scalars(select(AssetPause)).one()
        assert row.resumed_at == T0 + timedelta(seconds=420)
        assert row.last_tripped_at == T0 + timedelta(seconds=120)
        assert "price moved" in row.reason


def test_thin_books_and_a_lagging_chain_pause_the_asset() -> None:
    store, alerts = MemoryPauseStore(), Alerts()
    thin = books(book("binance", "BTC", "USDT", [("90000.00", "0.001")]), DEEP[("inr", "USDTINR")])

    class NoHistory:
        def window(self, asset: str, since: Any) -> list[Any]:
            return []

    result = run_breakers(
        ["BTC", "ETH"],
        T0,
        history=NoHistory(),
        books=thin,
        chain_lagging=lambda chain: chain is Chain.ETHEREUM,
        store=store,
        config=CONFIG,
        alert=alerts,
    )
    btc, eth = result["BTC"], result["ETH"]
    assert btc is not None and "order book too thin" in btc.reason
    assert eth is not None and "the ethereum node is lagging" in eth.reason
    assert {p["asset"] for _, p in alerts} == {"BTC", "ETH"}

    def broken(chain: Chain) -> bool:
        raise ConnectionError("adapter down")

    again = run_breakers(
        ["BTC"],
        T0,
        history=NoHistory(),
        books=DEEP,
        chain_lagging=broken,
        store=store,
        config=CONFIG,
        alert=alerts,
    )["BTC"]
    assert again is not None and "node is lagging" in again.reason


def test_one_open_pause_per_asset_is_enforced_by_the_database(
    session_factory: sessionmaker[Session],
) -> None:
    store = SqlPauseStore(session_factory)
    first = store.open("DOGE", "thin", T0)
    second = store.open("DOGE", "lagging", T0 + timedelta(seconds=5))  # concurrent evaluator
    assert second.paused_at == first.paused_at and second.reason == "lagging"
    assert [p.asset for p in store.all_active()] == ["DOGE"]
    with pytest.raises(IntegrityError), session_factory() as session, session.begin():
        session.add(AssetPause(asset="DOGE", reason="x", paused_at=T0, last_tripped_at=T0))
    store.close("DOGE", T0 + timedelta(seconds=10))
    assert store.open("DOGE", "again", T0 + timedelta(seconds=20)).reason == "again"


def test_recent_pauses_reread_at_most_every_recheck_and_forget_on_their_own_writes(
    session_factory: sessionmaker[Session],
) -> None:
    from wallet.quotes import quote_from_sources
    from wallet.rates.book_cache import BookCache, MemoryBookStore, fresh_books
    from wallet.rates.breakers import RecentPauses
    from wallet.rates.cache import MemoryRateCache

    ticks = [100.0]
    shared = SqlPauseStore(session_factory)
    view = RecentPauses(SqlPauseStore(session_factory), 1.0, monotonic=lambda: ticks[0])
    assert view.active("PEPE") is None  # "no pause" is remembered ...
    shared.open("PEPE", "order book too thin", T0)  # ... while another process pauses
    ticks[0] += 0.9
    assert view.active("PEPE") is None
    ticks[0] += 0.2
    paused = view.active("PEPE")
    assert paused is not None and paused.reason == "order book too thin"
    view.close("PEPE", T0)  # its own write is seen at once
    assert view.active("PEPE") is None
    view.open("PEPE", "moved 25 %", T0)
    # And a quote through the view is refused with the breaker's code.
    rates = MemoryRateCache(clock=lambda: T0)
    rates.put_rates([asset_rate("PEPE", "0.001")])
    cache = BookCache(MemoryBookStore(clock=lambda: T0))
    with pytest.raises(AssetPaused, match="moved 25 %"):
        quote_from_sources(
            QuoteRequest(10_000, "PEPE"),
            cache=rates,
            books=lambda: fresh_books(cache, T0, 30),
            pauses=view,
            config=QuoteConfig(),
            now=T0,
        )
