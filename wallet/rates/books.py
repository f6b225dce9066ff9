"""Order books and exact price parsing.

Prices and quantities on the wire are decimal strings; they become exact
``Fraction`` values here and never pass through ``float``. A price is in
whole units of the market's quote asset per whole unit of its base asset
(what the exchange shows), a quantity in whole units of the base asset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from wallet.rates.errors import RateSourceError

_DECIMAL_RE = re.compile(r"^\d+(?:\.\d+)?$")

# Payer assets that trade on an exchange under another asset's markets.
MARKET_ASSET: dict[str, str] = {"USDC-SPL": "USDC"}


def market_asset(symbol: str) -> str:
    """The asset whose markets price ``symbol`` (USDC-SPL trades as USDC)."""
    return MARKET_ASSET.get(symbol, symbol)


def parse_decimal(text: object) -> Fraction:
    """An exact non-negative Fraction from a plain decimal string such as ``"0.00002134"``."""
    if not isinstance(text, str) or not _DECIMAL_RE.match(text):
        raise RateSourceError(f"expected a decimal string, got {text!r}")
    return Fraction(text)


@dataclass(frozen=True, slots=True)
class Market:
    """A spot market on one venue: selling ``base`` yields ``quote``."""

    venue: str
    symbol: str  # the venue's own name, e.g. "BONKUSDT"
    base: str  # registry symbol, e.g. "BONK"
    quote: str  # "USDT" or "INR"

    def __str__(self) -> str:
        return f"{self.venue}:{self.base}/{self.quote}"


@dataclass(frozen=True, slots=True)
class Level:
    price: Fraction  # quote whole units per base whole unit
    qty: Fraction  # base whole units


@dataclass(frozen=True)
class OrderBook:
    """A snapshot of one market's depth; bids best (highest) first."""

    market: Market
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    fetched_at: datetime

    @property
    def best_bid(self) -> Fraction | None:
        return self.bids[0].price if self.bids else None

    @classmethod
    def from_depth(cls, market: Market, payload: Any, fetched_at: datetime) -> OrderBook:
        """Parse a Binance-shape depth answer (``{"bids": [["price", "qty"], ...]}``)."""
        if not isinstance(payload, dict):
            raise RateSourceError(f"{market}: depth answer is not an object")
        return cls(
            market,
            _levels(payload.get("bids"), descending=True),
            _levels(payload.get("asks"), descending=False),
            fetched_at,
        )


def _levels(rows: object, *, descending: bool) -> tuple[Level, ...]:
    if not isinstance(rows, list):
        raise RateSourceError("depth sides must be lists")
    levels: list[Level] = []
    for row in rows:
        if not isinstance(row, Sequence) or isinstance(row, str) or len(row) < 2:
            raise RateSourceError(f"bad depth level {row!r}")
        price, qty = parse_decimal(row[0]), parse_decimal(row[1])
        if price > 0 and qty > 0:
            levels.append(Level(price, qty))
    # Sorted defensively: the walk below relies on best-first order.
    levels.sort(key=lambda lv: lv.price, reverse=descending)
    return tuple(levels)


def book_levels(pairs: Iterable[tuple[str, str]]) -> tuple[Level, ...]:
    """Bids from ``(price, qty)`` decimal strings, best first (test and fixture helper)."""
    return _levels([list(p) for p in pairs], descending=True)
