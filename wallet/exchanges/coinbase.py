"""Coinbase Exchange public tickers via ccxt's ``coinbaseexchange`` (rates only).

Uses the implicit ``public_get_products_id_ticker`` (Coinbase Exchange API:
Get product ticker, ``GET /products/{product_id}/ticker``), which returns the
raw JSON, so prices stay exact decimal strings.
"""

from __future__ import annotations

import threading
from typing import Any

from wallet.exchanges.binance import translate
from wallet.exchanges.errors import ExchangeError, ExchangeProtocolError
from wallet.exchanges.types import Ticker, dec

QUOTES = ("USDT", "USDC", "USD", "EUR")


def product_id(symbol: str) -> str:
    """``BTC/USD``, ``BTC-USD`` or ``BTCUSD`` as Coinbase writes it: ``BTC-USD``."""
    text = symbol.upper().replace("/", "-")
    if "-" in text:
        return text
    for quote in QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return f"{text[: -len(quote)]}-{quote}"
    raise ExchangeError(f"cannot split {symbol!r} into base and quote")


class CoinbaseTickerClient:
    """A :class:`~wallet.exchanges.base.TickerSource` over Coinbase Exchange."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, rate_limit: bool = True) -> None:
        import ccxt

        self.venue = "coinbase"
        self.url = url.rstrip("/")
        self._lock = threading.Lock()
        self._ccxt = ccxt.coinbaseexchange(
            {"enableRateLimit": rate_limit, "timeout": int(timeout_s * 1000)}
        )
        self._ccxt.urls["api"] = {"public": self.url, "private": self.url}

    def __repr__(self) -> str:
        return f"CoinbaseTickerClient(url={self.url!r})"

    def ticker(self, symbol: str) -> Ticker:
        """Coinbase Exchange API: Get product ticker GET /products/{product_id}/ticker."""
        import ccxt

        pid = product_id(symbol)
        with self._lock:
            try:
                raw: Any = self._ccxt.public_get_products_id_ticker({"id": pid})
            except ccxt.BaseError as exc:
                raise translate(exc) from exc
        if not isinstance(raw, dict):
            raise ExchangeProtocolError(f"unexpected ticker answer for {pid}")
        return Ticker(
            self.venue,
            pid,
            dec(raw.get("bid"), "bid"),
            dec(raw.get("ask"), "ask"),
            dec(raw.get("price"), "price"),
        )
