"""Binance Spot (and Binance-compatible venues such as the INR venue) via ccxt.

Decision: ccxt 4.5's ``binance`` class fits with a small surface, so the
product uses it rather than a hand-written client. Pointing it elsewhere
means overriding ``urls['api']`` (every section, so no call can leave for
binance.com) and three options: ``fetchMarkets.types = ['spot']`` and
``fetchMargins = False`` (``load_markets`` then calls only
``/api/v3/exchangeInfo``), ``fetchCurrencies = False`` (skips the SAPI
``capital/config/getall`` call). ccxt contributes HMAC signing, ``timestamp``
and ``recvWindow``, and its map of Binance error codes.

We call ccxt's *implicit* endpoint methods (``private_post_order`` etc.),
which return Binance's JSON untouched, and parse the decimal strings
ourselves: ccxt's unified structures (``fetch_order_book``,
``create_order``) turn amounts into floats. ccxt's sync client is not
thread-safe, so calls are serialised by a lock. ccxt (through requests /
urllib3) never retries a POST by itself, which the safe sell relies on.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from wallet.assets import get_asset
from wallet.errors import InvalidAmount
from wallet.exchanges.base import Quantity
from wallet.exchanges.errors import (
    ExchangeAuthError,
    ExchangeError,
    ExchangeProtocolError,
    ExchangeUnavailable,
    InsufficientExchangeBalance,
    OrderNotFound,
    OrderRejected,
)
from wallet.exchanges.safe_sell import OutcomeUncertain, SafeSellPolicy, sell_once
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
    dec,
    plain,
)
from wallet.money import Amount, to_decimal

_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')
AUTH_CODES = {-1021, -1022, -2014, -2015}
# Binance 10xx codes that leave the execution status unknown.
UNKNOWN_CODES = {-1000, -1001, -1006, -1007, -1008}
# Registry symbols whose exchange ticker differs (both USDC flavours trade as USDC).
EXCHANGE_ASSET = {"USDC-SPL": "USDC"}


def exchange_asset(symbol: str) -> str:
    """The exchange's asset code for a registry symbol (``USDC-SPL`` trades as ``USDC``)."""
    return EXCHANGE_ASSET.get(symbol, symbol)


def venue_symbol(symbol: str) -> str:
    """``SOL/USDT``, ``SOL-USDT`` or ``SOLUSDT`` as Binance writes it: ``SOLUSDT``."""
    return symbol.replace("/", "").replace("-", "").upper()


def quantity_text(qty: Quantity) -> Decimal:
    """A positive exact base-asset quantity from a Decimal, decimal string or Amount."""
    if isinstance(qty, Amount):
        value = to_decimal(qty.minor, get_asset(qty.asset).decimals)
    elif isinstance(qty, Decimal):
        value = qty
    elif isinstance(qty, str):
        try:
            value = dec(qty, "quantity")
        except ExchangeProtocolError as exc:
            raise InvalidAmount(str(exc)) from None
    else:
        raise InvalidAmount(f"quantities are Decimal, decimal strings or Amount, got {qty!r}")
    if not value.is_finite() or value <= 0:
        raise InvalidAmount(f"quantity must be positive, got {value}")
    return value


def venue_code(exc: BaseException) -> int | None:
    """Binance's error code from a ccxt exception message (it embeds the body)."""
    match = _CODE.search(str(exc))
    return int(match.group(1)) if match else None


def translate(exc: BaseException) -> ExchangeError:
    """Map a ccxt exception to ours, preferring Binance's own code over ccxt's class."""
    import ccxt

    code = venue_code(exc)
    message = str(exc)[:500]
    if code == -2013 or isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(message, venue_code=code)
    if code in UNKNOWN_CODES:
        return ExchangeUnavailable(message, venue_code=code)
    if code in AUTH_CODES or isinstance(exc, ccxt.AuthenticationError):
        return ExchangeAuthError(message, venue_code=code)
    if isinstance(exc, ccxt.InsufficientFunds) or "insufficient balance" in message:
        return InsufficientExchangeBalance(message, venue_code=code)
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest) or (code is not None and code <= -1013):
        return OrderRejected(message, venue_code=code)
    return ExchangeUnavailable(message, venue_code=code)


class BinanceClient:
    """A Binance-API spot venue: market data, balances and the safe market sell."""

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        venue: str = "binance",
        timeout_s: float = 10.0,
        recv_window_ms: int = 5000,
        rate_limit: bool = True,
        policy: SafeSellPolicy | None = None,
    ) -> None:
        import ccxt

        self.venue = venue
        self.url = url.rstrip("/")
        self.policy = policy or SafeSellPolicy()
        self._lock = threading.Lock()
        self._rules: dict[str, SymbolRules] = {}
        self._ccxt = ccxt.binance(
            {
                "apiKey": api_key,
                "secret": api_secret,
                "enableRateLimit": rate_limit,
                "timeout": int(timeout_s * 1000),
                "options": {
                    "fetchMarkets": {"types": ["spot"]},
                    "fetchMargins": False,
                    "fetchCurrencies": False,
                    "recvWindow": recv_window_ms,
                    "adjustForTimeDifference": False,
                },
            }
        )
        # Every API section points here, so nothing can reach binance.com by accident.
        self._ccxt.urls["api"] = {
            name: self.url + urlsplit(base).path
            for name, base in self._ccxt.urls["api"].items()
            if isinstance(base, str)
        }

    def __repr__(self) -> str:  # never show credentials
        return f"BinanceClient(venue={self.venue!r}, url={self.url!r})"

    def _call(self, method: str, params: Mapping[str, Any]) -> Any:
        import ccxt

        with self._lock:
            try:
                return getattr(self._ccxt, method)(dict(params))
            except ccxt.BaseError as exc:
                raise translate(exc) from exc

    # -- market data -------------------------------------------------------
    def order_book(self, symbol: str, depth: int = 100) -> OrderBook:
        """Binance Spot API: Order book GET /api/v3/depth."""
        symbol = venue_symbol(symbol)
        raw = self._call("public_get_depth", {"symbol": symbol, "limit": depth})
        try:
            return OrderBook(
                symbol,
                tuple(BookLevel(dec(p, "price"), dec(q, "qty")) for p, q in raw["bids"]),
                tuple(BookLevel(dec(p, "price"), dec(q, "qty")) for p, q in raw["asks"]),
                int(raw.get("lastUpdateId", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ExchangeProtocolError(f"unexpected depth answer: {exc}") from exc

    def ticker(self, symbol: str) -> Ticker:
        """Binance Spot API: 24hr ticker price change statistics GET /api/v3/ticker/24hr."""
        symbol = venue_symbol(symbol)
        raw = self._call("public_get_ticker_24hr", {"symbol": symbol})
        return Ticker(
            self.venue,
            symbol,
            dec(raw.get("bidPrice"), "bidPrice"),
            dec(raw.get("askPrice"), "askPrice"),
            dec(raw.get("lastPrice"), "lastPrice"),
        )

    def symbol_rules(self, symbol: str) -> SymbolRules:
        """Binance Spot API: Exchange information GET /api/v3/exchangeInfo (cached)."""
        symbol = venue_symbol(symbol)
        if symbol not in self._rules:
            raw = self._call("public_get_exchangeinfo", {"symbol": symbol})
            self._rules[symbol] = _rules(raw["symbols"][0])
        return self._rules[symbol]

    # -- account -----------------------------------------------------------
    def _account(self) -> Mapping[str, Any]:
        raw: Mapping[str, Any] = self._call("private_get_account", {})
        return raw

    def balances(self) -> dict[str, Balance]:
        """Binance Spot API: Account information GET /api/v3/account."""
        return {
            row["asset"]: Balance(
                row["asset"], dec(row["free"], "free"), dec(row["locked"], "locked")
            )
            for row in self._account()["balances"]
        }

    def taker_fee(self) -> Decimal:
        """The account's taker commission rate (e.g. ``0.001`` for 0.1 %)."""
        return dec(self._account()["commissionRates"]["taker"], "taker")

    def my_trades(self, symbol: str, order_id: int | None = None) -> list[Trade]:
        """Binance Spot API: Account trade list GET /api/v3/myTrades."""
        params: dict[str, Any] = {"symbol": venue_symbol(symbol)}
        if order_id is not None:
            params["orderId"] = order_id
        return [_trade(row) for row in self._call("private_get_mytrades", params)]

    # -- orders ------------------------------------------------------------
    def get_order(self, symbol: str, client_order_id: str) -> Order:
        """Binance Spot API: Query order GET /api/v3/order by ``origClientOrderId``, with fills."""
        symbol = venue_symbol(symbol)
        raw = self._call(
            "private_get_order", {"symbol": symbol, "origClientOrderId": client_order_id}
        )
        order = _order(raw)
        fills = tuple(t.as_fill() for t in self.my_trades(symbol, order.order_id))
        return replace(order, fills=fills)

    def market_sell(self, symbol: str, qty: Quantity, client_order_id: str) -> Order:
        """Sell ``qty`` base units at market at most once per ``client_order_id``.

        See :func:`wallet.exchanges.safe_sell.sell_once` for the recovery rules.
        """
        symbol = venue_symbol(symbol)
        amount = quantity_text(qty)
        return sell_once(
            symbol=symbol,
            qty=amount,
            client_order_id=client_order_id,
            send=lambda: self._send_market_sell(symbol, amount, client_order_id),
            lookup=lambda: self.get_order(symbol, client_order_id),
            policy=self.policy,
        )

    def _send_market_sell(self, symbol: str, qty: Decimal, client_order_id: str) -> Order:
        """One POST /api/v3/order (Binance Spot API: New order), no recovery."""
        params = {
            "symbol": symbol,
            "side": "SELL",
            "type": "MARKET",
            "quantity": plain(qty),
            "newClientOrderId": client_order_id,
            "newOrderRespType": "FULL",
        }
        try:
            raw = self._call("private_post_order", params)
        except (OrderRejected, ExchangeAuthError):
            raise
        except ExchangeError as exc:
            raise OutcomeUncertain(f"{exc.code} {exc.venue_code}") from exc
        return _order(raw)


def _order(raw: Mapping[str, Any]) -> Order:
    try:
        return Order(
            symbol=raw["symbol"],
            order_id=int(raw["orderId"]),
            client_order_id=raw["clientOrderId"],
            side=raw["side"],
            type=raw["type"],
            status=OrderStatus(raw["status"]),
            orig_qty=dec(raw["origQty"], "origQty"),
            executed_qty=dec(raw["executedQty"], "executedQty"),
            cumulative_quote_qty=dec(raw["cummulativeQuoteQty"], "cummulativeQuoteQty"),
            fills=tuple(
                Fill(
                    int(f["tradeId"]),
                    dec(f["price"], "price"),
                    dec(f["qty"], "qty"),
                    dec(f["price"], "price") * dec(f["qty"], "qty"),
                    dec(f["commission"], "commission"),
                    f["commissionAsset"],
                )
                for f in raw.get("fills", ())
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ExchangeProtocolError(f"unexpected order answer: {exc!r}") from exc


def _trade(row: Mapping[str, Any]) -> Trade:
    try:
        return Trade(
            symbol=row["symbol"],
            trade_id=int(row["id"]),
            order_id=int(row["orderId"]),
            price=dec(row["price"], "price"),
            qty=dec(row["qty"], "qty"),
            quote_qty=dec(row["quoteQty"], "quoteQty"),
            commission=dec(row["commission"], "commission"),
            commission_asset=row["commissionAsset"],
            time_ms=int(row["time"]),
            is_buyer=bool(row["isBuyer"]),
            is_maker=bool(row["isMaker"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ExchangeProtocolError(f"unexpected trade answer: {exc!r}") from exc


def _rules(raw: Mapping[str, Any]) -> SymbolRules:
    filters = {f["filterType"]: f for f in raw.get("filters", ())}
    price, lot = filters.get("PRICE_FILTER", {}), filters.get("LOT_SIZE", {})
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    return SymbolRules(
        symbol=raw["symbol"],
        base=raw["baseAsset"],
        quote=raw["quoteAsset"],
        tick_size=dec(price.get("tickSize", "0"), "tickSize"),
        step_size=dec(lot.get("stepSize", "0"), "stepSize"),
        min_qty=dec(lot.get("minQty", "0"), "minQty"),
        max_qty=dec(lot.get("maxQty", "0"), "maxQty"),
        min_notional=dec(notional.get("minNotional", "0"), "minNotional"),
    )
