"""Public market-data clients for the venues we price from.

Only unauthenticated endpoints are used here (rates and depth need no key):
- Binance-shape spot venues (Binance itself and the INR venue in the
  sandbox): Binance Spot API "Symbol order book ticker"
  ``GET /api/v3/ticker/bookTicker`` and "Order book" ``GET /api/v3/depth``.
- Coinbase Exchange API "Get product ticker" ``GET /products/{id}/ticker``.
Clients are built by the caller (never at import) and closed with ``close()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from fractions import Fraction
from typing import Any

import httpx

from wallet.assets import REGISTRY
from wallet.db.base import utcnow
from wallet.http import tls_context
from wallet.rates.books import Market, OrderBook, parse_decimal
from wallet.rates.errors import RateSourceError
from wallet.rates.routes import BookKey, book_key

QUOTE_ASSETS = ("USDT", "INR")
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


def _get_json(client: httpx.Client, path: str, params: Mapping[str, Any] | None = None) -> Any:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise RateSourceError(f"GET {path} failed: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise RateSourceError(f"GET {path} answered {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise RateSourceError(f"GET {path} answered non-JSON") from exc


class SpotVenueClient:
    """Market data of one Binance-shape spot venue."""

    def __init__(self, venue: str, base_url: str, *, client: httpx.Client | None = None) -> None:
        self.venue = venue
        self._client = client or httpx.Client(
            base_url=base_url, timeout=DEFAULT_TIMEOUT, verify=tls_context()
        )

    def close(self) -> None:
        self._client.close()

    def book_tickers(self) -> dict[str, tuple[Fraction, Fraction]]:
        """Best bid and ask of every symbol (Binance Spot API: Symbol order book ticker)."""
        payload = _get_json(self._client, "/api/v3/ticker/bookTicker")
        rows = payload if isinstance(payload, list) else [payload]
        tickers: dict[str, tuple[Fraction, Fraction]] = {}
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("symbol"), str):
                raise RateSourceError(f"{self.venue}: bad bookTicker row")
            tickers[row["symbol"]] = (
                parse_decimal(row.get("bidPrice")),
                parse_decimal(row.get("askPrice")),
            )
        return tickers

    def markets(self, symbols: Iterable[str]) -> list[Market]:
        """Markets of this venue between registry assets and USDT/INR."""
        listed = set(symbols)
        found: list[Market] = []
        for base in REGISTRY:
            for quote in QUOTE_ASSETS:
                if base != quote and f"{base}{quote}" in listed:
                    found.append(Market(self.venue, f"{base}{quote}", base, quote))
        return found

    def depth(self, market: Market, now: datetime, limit: int = 100) -> OrderBook:
        """One market's order book (Binance Spot API: Order book ``GET /api/v3/depth``)."""
        payload = _get_json(
            self._client, "/api/v3/depth", {"symbol": market.symbol, "limit": limit}
        )
        return OrderBook.from_depth(market, payload, now)


class CoinbaseClient:
    """Coinbase Exchange public ticker."""

    def __init__(self, base_url: str, *, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(
            base_url=base_url, timeout=DEFAULT_TIMEOUT, verify=tls_context()
        )

    def close(self) -> None:
        self._client.close()

    def ticker(self, product_id: str) -> dict[str, Any] | None:
        """Coinbase Exchange API: Get product ticker ``GET /products/{id}/ticker``.

        ``None`` for a product the venue does not list (404).
        """
        try:
            response = self._client.get(f"/products/{product_id}/ticker")
        except httpx.HTTPError as exc:
            raise RateSourceError(f"coinbase ticker failed: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RateSourceError(f"coinbase ticker {product_id} answered {response.status_code}")
        data = response.json()
        if not isinstance(data, dict):
            raise RateSourceError(f"coinbase ticker {product_id}: not an object")
        return data


def mid(bid: Fraction, ask: Fraction) -> Fraction | None:
    """Mid price, or the one side that is quoted; ``None`` for an empty ticker."""
    if bid > 0 and ask > 0:
        return (bid + ask) / 2
    if bid > 0:
        return bid
    return ask if ask > 0 else None


def fetch_books(
    clients: Mapping[str, SpotVenueClient],
    *,
    clock: Callable[[], datetime] = utcnow,
    limit: int = 100,
) -> dict[BookKey, OrderBook]:
    """Depth of every USDT/INR market on every venue: the route graph's edges.

    A venue that fails is left out (its routes simply do not exist this time);
    a quote then needs another venue to have a route.
    """
    books: dict[BookKey, OrderBook] = {}
    for client in clients.values():
        try:
            markets = client.markets(client.book_tickers())
            for market in markets:
                books[book_key(market)] = client.depth(market, clock(), limit)
        except RateSourceError:
            continue
    return books
