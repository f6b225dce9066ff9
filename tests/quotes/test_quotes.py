"""Quote arithmetic: fees, rounding, expiry, refusals and the coverage property."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.rates.builders import T0, asset_rate, book, books, fees
from tests.rates.strategies import bonk_books, btc_books
from wallet.errors import InvalidAmount, UnknownAsset
from wallet.quotes import (
    QuoteCalculation,
    QuoteConfig,
    QuoteExpired,
    QuoteRequest,
    check_quote_valid,
    make_quote,
    quote_from_sources,
)
from wallet.rates.breakers import MemoryPauseStore, Pause
from wallet.rates.cache import MemoryRateCache
from wallet.rates.errors import AssetPaused, InsufficientLiquidity, StaleRate
from wallet.rates.routes import Books, sell_along
from wallet.rates.types import AssetRate, rate_from_inr_price

CONFIG = QuoteConfig()
USDT_INR = book("inr", "USDT", "INR", [("88.00", "1000000")])
BTC_BOOKS = books(book("binance", "BTC", "USDT", [("90000.00", "5")]), USDT_INR)
BTC_RATE = {"BTC": asset_rate("BTC", "7920000")}


def quote(
    inr: int,
    asset: str = "BTC",
    *,
    rates: dict[str, AssetRate] = BTC_RATE,
    books: Books = BTC_BOOKS,
    now: datetime = T0,
    config: QuoteConfig = CONFIG,
    pause: Pause | None = None,
) -> QuoteCalculation:
    return make_quote(
        QuoteRequest(inr, asset, "vendor@upi"),
        rates=rates,
        books=books,
        now=now,
        config=config,
        pause=pause,
    )


def test_a_quote_shows_every_fee_and_covers_them_all() -> None:
    q = make_quote(
        QuoteRequest(100_000, "BTC", "vendor@upi"),
        rates=BTC_RATE,
        books=BTC_BOOKS,
        now=T0,
        config=CONFIG,
    )
    # ₹1,000: 1 % platform fee = ₹10; BTC network fee ₹100; 1 % major buffer on ₹1,110.
    assert (q.fees.platform_paise, q.fees.network_paise, q.fees.tds_paise) == (1_000, 10_000, 0)
    assert q.fees.buffer_paise == 1_110
    assert q.target_paise == 112_110 == q.inr_paise + q.fees.total_paise
    assert q.route_description == "BTC→USDT@binance→INR@inr"
    # 90,000 × 0.999 USDT then × 88 × 0.998 INR per BTC: 7,896,...; the least sats that cover it.
    sold = sell_along(q.route, q.crypto_minor, BTC_BOOKS, fees)
    assert sold.proceeds_paise >= q.target_paise
    assert sell_along(q.route, q.crypto_minor - 1, BTC_BOOKS, fees).proceeds_paise < q.target_paise
    assert q.proceeds_paise == sold.proceeds_paise
    # The crypto components add up exactly to what the payer sends.
    f = q.fees
    parts = (f.vendor_minor, f.platform_minor, f.network_minor, f.buffer_minor, f.tds_minor)
    assert sum(parts) == q.crypto_minor
    assert q.rate == Fraction(q.target_paise, q.crypto_minor)
    assert q.rate_display.count(".") == 1 and len(q.rate_display.split(".")[1]) == 2
    assert q.expires_at == T0 + timedelta(seconds=300)  # bitcoin's longer TTL
    assert q.payee == "vendor@upi"


def test_fixed_fee_and_per_chain_ttl_come_from_config() -> None:
    cfg = QuoteConfig(platform_fee_bps=0, platform_fee_fixed_paise=500, quote_ttl_by_chain={})
    q = quote(100_000, config=cfg)
    assert q.fees.platform_paise == 500
    assert q.expires_at == T0 + timedelta(seconds=90)


def test_fees_round_up_in_the_platforms_favour() -> None:
    q = quote(101)  # 1 % of 101 paise is 1.01 paise: charged as 2
    assert q.fees.platform_paise == 2


def test_the_reference_rate_floors_a_glitching_book() -> None:
    # A book far above the sources' median must not make the coin look cheaper to pay with.
    low_reference = {"BTC": asset_rate("BTC", "7000000")}
    q = quote(100_000, rates=low_reference)
    assert q.crypto_minor == -(-112_110 * 100_000_000 // 700_000_000)


def test_usdc_spl_quotes_through_the_usdc_market() -> None:
    graph = books(book("binance", "USDC", "USDT", [("1.0000", "1000000")]), USDT_INR)
    q = quote(100_000, "USDC-SPL", rates={"USDC-SPL": asset_rate("USDC-SPL", "88")}, books=graph)
    assert q.route_description == "USDC→USDT@binance→INR@inr"
    assert q.expires_at == T0 + timedelta(seconds=90)


def test_an_expired_quote_is_refused() -> None:
    q = quote(100_000, "BTC")
    check_quote_valid(q, T0 + timedelta(seconds=299))
    with pytest.raises(QuoteExpired) as exc:
        check_quote_valid(q, T0 + timedelta(seconds=300))
    assert exc.value.code == "quote_expired"


def test_a_paused_asset_is_refused_with_its_reason() -> None:
    pause = Pause("BTC", "price moved 12.00% within 300 s (limit 8.00%)", T0, T0)
    with pytest.raises(AssetPaused) as exc:
        quote(100_000, pause=pause)
    assert exc.value.code == "asset_paused"
    assert "price moved 12.00%" in exc.value.message


def test_stale_rates_and_stale_books_mean_no_quote() -> None:
    with pytest.raises(StaleRate) as exc:
        quote(100_000, now=T0 + timedelta(seconds=61))
    assert exc.value.code == "rate_stale"
    with pytest.raises(StaleRate):
        quote(100_000, rates={})
    old_books = books(
        book("binance", "BTC", "USDT", [("90000.00", "5")], at=T0 - timedelta(seconds=61)),
        USDT_INR,
    )
    with pytest.raises(StaleRate, match="order books are stale"):
        quote(100_000, books=old_books)


@pytest.mark.parametrize(
    ("amount", "asset", "error"),
    [
        (0, "BTC", InvalidAmount),
        (99, "BTC", InvalidAmount),
        (10_000_001, "BTC", InvalidAmount),
        (1000.0, "BTC", InvalidAmount),
        (True, "BTC", InvalidAmount),
        (100_000, "INR", UnknownAsset),
        (100_000, "XYZ", UnknownAsset),
    ],
)
def test_bad_input_gets_a_clear_error(amount: object, asset: str, error: type) -> None:
    with pytest.raises(error):
        quote(amount, asset)  # type: ignore[arg-type]


def test_too_large_for_the_books_is_refused() -> None:
    with pytest.raises(InsufficientLiquidity) as exc:
        quote(
            10_000_000, books=books(book("binance", "BTC", "USDT", [("90000", "0.01")]), USDT_INR)
        )
    assert exc.value.code == "insufficient_liquidity"


def _generous_reference(asset: str, graph: Books) -> dict[str, AssetRate]:
    """A reference rate above any route's top of book, so the books decide the amount."""
    # Every top price times the best USDT price, doubled: over-estimates every route.
    top = max(b.best_bid or 0 for b in graph.values() if b.market.base != "USDT")
    usdt = max(b.best_bid or 0 for b in graph.values() if b.market.base == "USDT")
    rate = rate_from_inr_price(asset, Fraction(top * usdt * 2))
    return {asset: AssetRate(asset, rate, T0, ("test",), T0)}


CASES = st.one_of(btc_books().map(lambda b: ("BTC", b)), bonk_books().map(lambda b: ("BONK", b)))


@given(CASES, st.integers(100, 10_000_000))
def test_selling_the_quoted_crypto_fetches_the_amount_plus_fees(
    case: tuple[str, Books], inr: int
) -> None:
    asset, graph = case
    try:
        q = make_quote(
            QuoteRequest(inr, asset),
            rates=_generous_reference(asset, graph),
            books=graph,
            now=T0,
            config=CONFIG,
        )
    except InsufficientLiquidity:
        assume(False)
        raise
    sold = sell_along(q.route, q.crypto_minor, graph, fees)
    assert sold.proceeds_paise >= q.inr_paise + q.fees.total_paise


@given(CASES, st.integers(100, 10_000_000), st.integers(100, 10_000_000))
def test_the_quoted_amount_is_monotonic_in_size(
    case: tuple[str, Books], size_a: int, size_b: int
) -> None:
    asset, graph = case
    small, large = sorted((size_a, size_b))
    rates = _generous_reference(asset, graph)

    def crypto(inr: int) -> int | None:
        try:
            q = make_quote(
                QuoteRequest(inr, asset), rates=rates, books=graph, now=T0, config=CONFIG
            )
        except InsufficientLiquidity:
            return None
        return q.crypto_minor

    small_q, large_q = crypto(small), crypto(large)
    if small_q is None:
        assert large_q is None  # what cannot carry less cannot carry more
    elif large_q is not None:
        assert small_q <= large_q


def test_quote_from_sources_refuses_cheaply_before_reading_books() -> None:
    cache, pauses = MemoryRateCache(clock=lambda: T0), MemoryPauseStore()
    calls: list[int] = []

    def read_books() -> Books:
        calls.append(1)
        return BTC_BOOKS

    def ask(at: datetime) -> QuoteCalculation:
        return quote_from_sources(
            QuoteRequest(100_000, "BTC"),
            cache=cache,
            books=read_books,
            pauses=pauses,
            config=CONFIG,
            now=at,
        )

    with pytest.raises(StaleRate):
        ask(T0)  # nothing cached yet
    cache.put_rates(BTC_RATE.values())
    pauses.open("BTC", "the bitcoin node is lagging", T0)
    with pytest.raises(AssetPaused, match="node is lagging"):
        ask(T0)
    assert calls == []
    pauses.close("BTC", T0)
    with pytest.raises(StaleRate):
        ask(T0 + timedelta(seconds=61))
    assert calls == []
    assert ask(T0).crypto_minor == quote(100_000).crypto_minor
    assert calls == [1]
