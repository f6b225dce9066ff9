"""Builders for books, rates and fake rate sources shared by the rates and quotes tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction

from wallet.rates.books import Level, Market, OrderBook, parse_decimal
from wallet.rates.routes import Books, book_key
from wallet.rates.sources import SourceRates
from wallet.rates.types import AssetRate, rate_from_inr_price

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def book(
    venue: str,
    base: str,
    quote: str,
    bids: Sequence[tuple[str, str]],
    at: datetime = T0,
) -> OrderBook:
    """A book from ``(price, qty)`` decimal strings (best first is not required)."""
    levels = tuple(
        sorted(
            (Level(parse_decimal(p), parse_decimal(q)) for p, q in bids),
            key=lambda lv: lv.price,
            reverse=True,
        )
    )
    return OrderBook(Market(venue, f"{base}{quote}", base, quote), levels, (), at)


def books(*items: OrderBook) -> Books:
    return {book_key(b.market): b for b in items}


def asset_rate(asset: str, inr_per_unit: str, at: datetime = T0) -> AssetRate:
    return AssetRate(asset, rate_from_inr_price(asset, Fraction(inr_per_unit)), at, ("test",), at)


class FixedSource:
    """A rate source answering fixed ₹-per-coin prices (what a venue would say)."""

    def __init__(self, name: str, prices: dict[str, str], at: datetime = T0) -> None:
        self.name = name
        self.prices = dict(prices)
        self.at = at

    def fetch(self, symbols: Sequence[str]) -> SourceRates:
        return {
            s: (rate_from_inr_price(s, Fraction(p)), self.at)
            for s, p in self.prices.items()
            if s in symbols
        }


class BrokenSource:
    name = "broken"

    def fetch(self, symbols: Sequence[str]) -> SourceRates:
        from wallet.rates.errors import RateSourceError

        raise RateSourceError("GET /api/v3/ticker/bookTicker answered 503")


def fees(venue: str) -> int:
    return {"binance": 10, "inr": 20}.get(venue, 50)
