"""The exchange interfaces the rest of the product depends on.

Settlement and rates annotate these Protocols only; the Binance-style
client (:mod:`wallet.exchanges.binance`) and the Coinbase ticker client
(:mod:`wallet.exchanges.coinbase`) implement them, for the real venues and
for the sandbox alike. Symbols are the venue's pair names (``SOLUSDT``;
``SOL/USDT`` and ``SOL-USDT`` are accepted too). Quantities are in base-asset
units as exact ``Decimal`` / decimal strings, or an :class:`Amount` in
integer minor units; never floats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, runtime_checkable

from wallet.exchanges.types import Balance, Order, OrderBook, SymbolRules, Ticker, Trade
from wallet.money import Amount

Quantity = Decimal | str | Amount


@runtime_checkable
class TickerSource(Protocol):
    """Anything that prices a pair: every venue, including rates-only ones."""

    venue: str

    def ticker(self, symbol: str) -> Ticker: ...


@runtime_checkable
class ExchangeClient(TickerSource, Protocol):
    """A spot venue we can sell on."""

    def order_book(self, symbol: str, depth: int = 100) -> OrderBook: ...

    def symbol_rules(self, symbol: str) -> SymbolRules: ...

    def balances(self) -> dict[str, Balance]: ...

    def market_sell(self, symbol: str, qty: Quantity, client_order_id: str) -> Order:
        """Sell ``qty`` at market, at most once per ``client_order_id``.

        Idempotent: if an order with this id already exists it is returned
        (with ``recovered=True``) instead of selling again. On an ambiguous
        answer the order is looked up before anything else; a new request is
        sent only when the venue confirms no such order exists. Raises
        :class:`~wallet.exchanges.errors.OrderOutcomeUnknown` when the venue
        cannot tell; the caller retries later with the same id.
        """
        ...

    def get_order(self, symbol: str, client_order_id: str) -> Order:
        """The order with this client id, with its fills; ``OrderNotFound`` if none."""
        ...

    def my_trades(self, symbol: str, order_id: int | None = None) -> list[Trade]: ...
