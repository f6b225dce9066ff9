"""Median, outlier and jump exclusion, staleness, and the refresh sync."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest

from tests.rates.builders import T0, BrokenSource, FixedSource
from wallet.rates.aggregate import aggregate, median
from wallet.rates.cache import MemoryRateCache, fresh_rate
from wallet.rates.config import RatesConfig
from wallet.rates.errors import StaleRate
from wallet.rates.history import MemoryRateHistory
from wallet.rates.models import MEDIAN_SOURCE
from wallet.rates.refresh import refresh_rates
from wallet.rates.types import RateObservation, inr_per_unit, rate_from_inr_price

CONFIG = RatesConfig(assets=("BTC", "BONK"))


class Alerts:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self.events.append((kind, payload))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [p for k, p in self.events if k == kind]


def _clock() -> Any:
    return T0


def test_median_is_exact_for_odd_and_even_counts() -> None:
    assert median([Fraction(3), Fraction(1), Fraction(2)]) == 2
    assert median([Fraction(1), Fraction(2)]) == Fraction(3, 2)
    with pytest.raises(ValueError):
        median([])


def test_rate_unit_is_paise_per_minor_unit() -> None:
    # ₹90,00,000 per BTC is 9 paise per satoshi; BONK ₹0.00176 per coin, 5 decimals.
    assert rate_from_inr_price("BTC", Fraction(9_000_000)) == 9
    bonk = rate_from_inr_price("BONK", Fraction("0.00176"))
    assert bonk == Fraction(176, 10**8)  # 0.176 paise per BONK over 10^5 units
    assert inr_per_unit("BONK", bonk) == Fraction("0.00176")


def test_bad_source_is_excluded_as_outlier_and_alerted() -> None:
    sources = [
        FixedSource("binance", {"BTC": "7920000", "BONK": "0.00176"}),
        FixedSource("inr", {"BTC": "7930000", "BONK": "0.00177"}),
        FixedSource("coinbase", {"BTC": "8500000", "BONK": "0.00175"}),  # BTC 7 % high
    ]
    cache, history, alerts = MemoryRateCache(clock=_clock), MemoryRateHistory(), Alerts()
    snap = refresh_rates(sources, cache, history, T0, alerts, CONFIG)

    btc = snap.rates["BTC"]
    assert btc.sources == ("binance", "inr")
    assert inr_per_unit("BTC", btc.rate) == 7_925_000  # median of the two that passed
    assert [(e.source, e.asset, e.reason) for e in snap.exclusions] == [
        ("coinbase", "BTC", "outlier")
    ]
    assert alerts.of("rate_anomaly")[0]["source"] == "coinbase"
    assert inr_per_unit("BONK", snap.rates["BONK"].rate) == Fraction("0.00176")
    # The cache and the history saw the same numbers.
    assert fresh_rate(cache, "BTC", T0, 60).rate == btc.rate
    medians = [r for r in history.rows if r.source == MEDIAN_SOURCE]
    assert {r.asset for r in medians} == {"BTC", "BONK"}
    assert len([r for r in history.rows if r.source != MEDIAN_SOURCE]) == 6


def test_jump_since_last_value_is_excluded_then_accepted_once_confirmed() -> None:
    cache, history, alerts = MemoryRateCache(clock=_clock), MemoryRateHistory(), Alerts()
    steady = {"BTC": "7920000"}
    a, b, c = FixedSource("a", steady), FixedSource("b", steady), FixedSource("c", steady)

    def sync(at: Any) -> Any:
        for source in (a, b, c):
            source.at = at
        return refresh_rates([a, b, c], cache, history, at, alerts, CONFIG)

    sync(T0)

    # "a" jumps 15 % in one tick while the others hold: excluded for the jump.
    a.prices = {"BTC": "9108000"}
    snap = sync(T0 + timedelta(seconds=30))
    assert [(e.source, e.reason) for e in snap.exclusions] == [("a", "jump")]
    assert snap.rates["BTC"].sources == ("b", "c")
    assert "15.00%" in alerts.of("rate_anomaly")[0]["detail"]

    # A genuine move: everyone moves. b and c jump now (a already did), so only
    # a is used this round; the round after, all three agree again.
    b.prices = c.prices = {"BTC": "9108000"}
    snap = sync(T0 + timedelta(seconds=60))
    assert snap.rates["BTC"].sources == ("a",)
    snap = sync(T0 + timedelta(seconds=90))
    assert snap.rates["BTC"].sources == ("a", "b", "c")
    assert snap.exclusions == ()


def test_two_disagreeing_sources_yield_no_rate_rather_than_a_guess() -> None:
    obs = [
        RateObservation("x", "BTC", Fraction(100), T0),
        RateObservation("y", "BTC", Fraction(110), T0),
    ]
    rates, exclusions = aggregate(obs, {}, T0, CONFIG)
    assert rates == {}
    assert {e.reason for e in exclusions} == {"outlier"}


def test_stale_observations_are_dropped_and_a_stale_cache_refuses() -> None:
    old = FixedSource("old", {"BTC": "7920000"}, at=T0 - timedelta(seconds=61))
    cache, alerts = MemoryRateCache(clock=_clock), Alerts()
    snap = refresh_rates([old], cache, MemoryRateHistory(), T0, alerts, CONFIG)
    assert snap.rates == {}
    assert [e.reason for e in snap.exclusions] == ["stale"]
    assert snap.missing == ("BTC", "BONK")
    assert alerts.of("rate_missing") == [{"assets": ["BTC", "BONK"]}]

    with pytest.raises(StaleRate) as missing:
        fresh_rate(cache, "BTC", T0, 60)
    assert missing.value.code == "rate_stale"

    fresh = FixedSource("fresh", {"BTC": "7920000"})
    refresh_rates([fresh], cache, MemoryRateHistory(), T0, alerts, CONFIG)
    assert fresh_rate(cache, "BTC", T0 + timedelta(seconds=60), 60).asset == "BTC"
    with pytest.raises(StaleRate) as aged:
        fresh_rate(cache, "BTC", T0 + timedelta(seconds=61), 60)
    assert aged.value.code == "rate_stale"
    assert "61 s old" in aged.value.message


def test_a_failing_source_is_reported_and_the_others_still_count() -> None:
    cache, alerts = MemoryRateCache(clock=_clock), Alerts()
    good = FixedSource("good", {"BTC": "7920000", "BONK": "0.00176"})
    snap = refresh_rates([BrokenSource(), good], cache, MemoryRateHistory(), T0, alerts, CONFIG)
    assert snap.source_errors == {"broken": "GET /api/v3/ticker/bookTicker answered 503"}
    assert alerts.of("rate_source_error")[0]["source"] == "broken"
    assert set(snap.rates) == {"BTC", "BONK"}
    assert rate_from_inr_price("BTC", Fraction(7_920_000)) == snap.rates["BTC"].rate
