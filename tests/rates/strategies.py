"""Hypothesis strategies for random order books (shared with the quotes tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.rates.builders import book, books
from wallet.money import format_minor
from wallet.rates.routes import Books


def _levels(price_lo: int, price_hi: int, decimals: int, qty_max: int) -> st.SearchStrategy:
    """1-6 bid levels: distinct prices in [lo, hi] × 10^-decimals, positive whole quantities."""
    return st.lists(
        st.tuples(st.integers(price_lo, price_hi), st.integers(1, qty_max)),
        min_size=1,
        max_size=6,
        unique_by=lambda lv: lv[0],
    ).map(lambda rows: [(format_minor(p, decimals), str(q)) for p, q in rows])


@st.composite
def btc_books(draw: st.DrawFn) -> Books:
    """BTC→INR directly on the INR venue and BTC→USDT→INR across venues, random depth."""
    return books(
        book("inr", "BTC", "INR", draw(_levels(7_700_000_00, 8_100_000_00, 2, 3))),
        book("binance", "BTC", "USDT", draw(_levels(88_000_00, 92_000_00, 2, 3))),
        book("inr", "USDT", "INR", draw(_levels(87_00, 89_00, 2, 500_000))),
    )


@st.composite
def bonk_books(draw: st.DrawFn) -> Books:
    """BONK→USDT (two venues) →INR: tiny prices with many decimals."""
    return books(
        book("binance", "BONK", "USDT", draw(_levels(1_900, 2_100, 8, 10**9))),
        book("inr", "BONK", "USDT", draw(_levels(1_850, 2_150, 8, 10**9))),
        book("inr", "USDT", "INR", draw(_levels(87_00, 89_00, 2, 500_000))),
    )
