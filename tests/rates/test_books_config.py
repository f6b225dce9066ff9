"""Exact price parsing, depth parsing, and configuration from Settings."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.rates.builders import T0
from wallet.assets import Chain
from wallet.config import Settings
from wallet.quotes import QuoteConfig
from wallet.rates.books import Market, OrderBook, parse_decimal
from wallet.rates.config import RatesConfig
from wallet.rates.errors import RateSourceError

MARKET = Market("binance", "BONKUSDT", "BONK", "USDT")


def test_prices_parse_exactly_and_never_from_floats() -> None:
    assert parse_decimal("0.00002134") == Fraction(2134, 10**8)
    assert parse_decimal("88") == 88
    for bad in (0.1, "1e-5", "-1", " 1", "NaN", "1,000", "", None):
        with pytest.raises(RateSourceError) as exc:
            parse_decimal(bad)
        assert exc.value.code == "rate_source_error"


def test_depth_answers_are_parsed_best_first_and_empty_levels_dropped() -> None:
    payload = {
        "bids": [["0.00001900", "10"], ["0.00002000", "5"], ["0.00001800", "0.00000000"]],
        "asks": [["0.00002200", "1"], ["0.00002100", "2"]],
    }
    bk = OrderBook.from_depth(MARKET, payload, T0)
    assert [lv.price for lv in bk.bids] == [Fraction("0.00002"), Fraction("0.000019")]
    assert [lv.price for lv in bk.asks] == [Fraction("0.000021"), Fraction("0.000022")]
    with pytest.raises(RateSourceError):
        OrderBook.from_depth(MARKET, {"bids": [[0.1, 1]], "asks": []}, T0)
    with pytest.raises(RateSourceError):
        OrderBook.from_depth(MARKET, ["not", "a", "book"], T0)


def test_configs_read_settings_fields_and_default_the_rest() -> None:
    settings = Settings(
        _env_file=None,
        rate_max_age_seconds=45,
        quote_ttl_seconds=120,
        platform_fee_bps=150,
        redis_url="redis://127.0.0.1:6379/3",
    )
    quotes = QuoteConfig.from_settings(settings)
    assert quotes.platform_fee_bps == 150
    assert quotes.ttl_seconds(Chain.ETHEREUM) == 120
    assert quotes.ttl_seconds(Chain.BITCOIN) == 300  # per-chain default until Settings has one
    assert quotes.rates.rate_max_age_seconds == 45
    assert quotes.rates.redis_url == "redis://127.0.0.1:6379/3"
    assert quotes.rates.rate_outlier_bps == 200  # not in Settings yet: the default
    assert RatesConfig.from_settings(settings, slippage_limit_bps=90).slippage_limit_bps == 90
    assert RatesConfig().taker_fee_bps("unknown-venue") == 60  # the worst fee we know
