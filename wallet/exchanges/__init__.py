"""Spot exchanges: the interface settlement and rates use, and its clients.

:class:`ExchangeClient` / :class:`TickerSource` are the contract;
:class:`wallet.exchanges.binance.BinanceClient` (ccxt, Binance and the INR
venue) and :class:`wallet.exchanges.coinbase.CoinbaseTickerClient` implement
it; :mod:`wallet.exchanges.factory` builds them from settings. Amounts cross
the interface as exact ``Decimal``; ``market_sell`` sells at most once per
client order id (:mod:`wallet.exchanges.safe_sell`).
"""

from wallet.exchanges.base import ExchangeClient, Quantity, TickerSource
from wallet.exchanges.errors import (
    ClientOrderIdConflict,
    ExchangeAuthError,
    ExchangeError,
    ExchangeProtocolError,
    ExchangeUnavailable,
    InsufficientExchangeBalance,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
)
from wallet.exchanges.types import (
    Balance,
    BookLevel,
    Fill,
    Order,
    OrderBook,
    OrderStatus,
    SymbolRules,
    Ticker,
    Trade,
)

__all__ = [
    "Balance",
    "BookLevel",
    "ClientOrderIdConflict",
    "ExchangeAuthError",
    "ExchangeClient",
    "ExchangeError",
    "ExchangeProtocolError",
    "ExchangeUnavailable",
    "Fill",
    "InsufficientExchangeBalance",
    "Order",
    "OrderBook",
    "OrderNotFound",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "OrderStatus",
    "Quantity",
    "SymbolRules",
    "Ticker",
    "TickerSource",
    "Trade",
]
