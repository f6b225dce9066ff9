"""Binance Spot REST API (``/api/v3``) over the sandbox engine.

Follows the public Binance Spot API documentation
(https://developers.binance.com/docs/binance-spot-api-docs/rest-api):
every amount on the wire is a string with 8 decimals; errors are
``{"code": <negative int>, "msg": str}``; signed endpoints (SIGNED, TRADE,
USER_DATA) need the ``X-MBX-APIKEY`` header and an HMAC-SHA256 ``signature``
of *totalParams* (the raw query string concatenated with the raw request
body, signature removed), plus ``timestamp`` within ``recvWindow``
(default 5000 ms, at most 60000) and less than 1000 ms ahead of server time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from sandbox.exchange.engine import ApiError, Engine, Order, OrderRequest, Trade, now_ms
from sandbox.exchange.market import PairMarket
from sandbox.faults import Faults
from sandbox.http import Request, Response, json_response

Params = dict[str, str]
Handler = Callable[[Params, str | None], Any]

_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_INT = re.compile(r"^[0-9]{1,20}$")
# Binance's documented legal range for client order ids.
_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
MAX_RECV_WINDOW = 60_000
TIMEOUT_BODY = {
    "code": -1007,
    "msg": "Timeout waiting for response from backend server. "
    "Send status unknown; execution status unknown.",
}
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def s8(value: Decimal) -> str:
    """Binance's wire format for amounts: a plain decimal string with 8 places."""
    return f"{value:.8f}"


def raw_query(request: Request) -> str:
    """The query string exactly as sent: the signature covers these bytes."""
    return request.raw_query


def _strip_signature(raw: str) -> tuple[str, str | None]:
    keep, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = unquote_plus(part[len("signature=") :])
        else:
            keep.append(part)
    return "&".join(keep), signature


class BinanceApp:
    """The Binance-shaped venue (``--venue binance`` or the WazirX-like ``--venue inr``)."""

    def __init__(self, engine: Engine, faults: Faults, url: str) -> None:
        self.engine = engine
        self.faults = faults
        self.url = url
        self.name = f"exchange-{engine.venue.name}"
        self.routes: dict[tuple[str, str], tuple[Handler, bool]] = {
            ("GET", "/api/v3/ping"): (self.ping, False),
            ("GET", "/api/v3/time"): (self.time, False),
            ("GET", "/api/v3/exchangeInfo"): (self.exchange_info, False),
            ("GET", "/api/v3/depth"): (self.depth, False),
            ("GET", "/api/v3/ticker/price"): (self.ticker_price, False),
            ("GET", "/api/v3/ticker/bookTicker"): (self.book_ticker, False),
            ("GET", "/api/v3/ticker/24hr"): (self.ticker_24hr, False),
            ("GET", "/api/v3/account"): (self.account, True),
            ("POST", "/api/v3/order"): (self.new_order, True),
            ("GET", "/api/v3/order"): (self.query_order, True),
            ("DELETE", "/api/v3/order"): (self.cancel_order, True),
            ("GET", "/api/v3/openOrders"): (self.open_orders, True),
            ("GET", "/api/v3/myTrades"): (self.my_trades, True),
        }

    # -- StandInApp ----------------------------------------------------------
    def handle(self, request: Request) -> Response:
        route = self.routes.get((request.method, request.path))
        if route is None:
            return json_response({"code": -1020, "msg": "This operation is not supported."}, 404)
        handler, signed = route
        try:
            params = self._params(request)
            api_key = self._authenticate(request, params) if signed else None
            with self.engine.lock:
                result = handler(params, api_key)
        except ApiError as exc:
            return json_response({"code": exc.code, "msg": exc.msg}, exc.status)
        if isinstance(result, Response):
            return result
        return json_response(result)

    def health(self) -> dict[str, Any]:
        venue = self.engine.venue
        return {
            "ok": True,
            "head": self.engine.current_tick(),
            "info": {
                "url": self.url,
                "venue": venue.name,
                "symbols": sorted(self.engine.markets),
                "credentials": {"api_key": venue.api_key, "api_secret": venue.api_secret},
                "settings": venue.settings(self.url),
            },
        }

    def admin(self, request: Request) -> Response | None:
        """Sandbox controls; see the package docstring."""
        from sandbox.exchange.admin import handle_admin

        return handle_admin(self.engine, request)

    # -- request plumbing ----------------------------------------------------
    @staticmethod
    def _params(request: Request) -> Params:
        """Query and form body merged; the query wins on conflicts, as on Binance."""
        params: Params = {}
        content_type = request.headers.get("Content-Type", "")
        if request.body and "json" not in content_type:
            params.update(
                parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
            )
        params.update({k: v[-1] for k, v in request.query.items()})
        return params

    def _authenticate(self, request: Request, params: Params) -> str:
        """SIGNED endpoint security (Binance: Endpoint security type / SIGNED endpoints)."""
        api_key = request.headers.get("X-MBX-APIKEY")
        if not api_key:
            raise ApiError(-2014, "API-key format invalid.", 401)
        account = self.engine.account(api_key)
        query, query_sig = _strip_signature(raw_query(request))
        body, body_sig = _strip_signature(
            request.body.decode("utf-8", "replace")
            if "json" not in request.headers.get("Content-Type", "")
            else ""
        )
        signature = query_sig or body_sig
        if not signature:
            raise _mandatory("signature")
        expected = hmac.new(
            account.secret.encode(), (query + body).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022, "Signature for this request is not valid.")
        timestamp = _int(params, "timestamp")
        if timestamp is None:
            raise _mandatory("timestamp")
        recv_window = _int(params, "recvWindow")
        recv_window = 5000 if recv_window is None else recv_window
        if recv_window > MAX_RECV_WINDOW:
            raise ApiError(-1131, "recvWindow must be less than 60000.")
        server_time = now_ms()
        if timestamp >= server_time + 1000:
            raise ApiError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if server_time - timestamp > recv_window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return api_key

    # -- General endpoints ---------------------------------------------------
    def ping(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: General endpoints, Test connectivity GET /api/v3/ping."""
        return {}

    def time(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: General endpoints, Check server time GET /api/v3/time."""
        return {"serverTime": now_ms()}

    def exchange_info(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: General endpoints, Exchange information GET /api/v3/exchangeInfo."""
        wanted = self._symbols_param(params)
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": RATE_LIMITS,
            "exchangeFilters": [],
            "symbols": [self._symbol_info(self.engine.markets[s]) for s in wanted],
        }

    def _symbols_param(self, params: Params) -> list[str]:
        if "symbol" in params:
            self.engine.market(params["symbol"])
            return [params["symbol"]]
        if "symbols" in params:
            try:
                names = [str(s) for s in json.loads(params["symbols"])]
            except (ValueError, TypeError):
                raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.") from None
            for name in names:
                self.engine.market(name)
            return names
        return list(self.engine.markets)

    def _symbol_info(self, market: PairMarket) -> dict[str, Any]:
        spec = market.spec
        return {
            "symbol": spec.symbol,
            "status": "TRADING",
            "baseAsset": spec.base,
            "baseAssetPrecision": 8,
            "quoteAsset": spec.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "amendAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": s8(spec.tick),
                    "maxPrice": s8(Decimal("100000000")),
                    "tickSize": s8(spec.tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": s8(spec.step),
                    "maxQty": s8(spec.max_qty),
                    "stepSize": s8(spec.step),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": s8(spec.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": s8(Decimal("9000000000")),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "NONE",
            "allowedSelfTradePreventionModes": ["NONE"],
        }

    # -- Market data endpoints -------------------------------------------------
    def depth(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Market data endpoints, Order book GET /api/v3/depth."""
        market = self.engine.market(_required(params, "symbol"))
        limit = min(_int(params, "limit") or 100, 5000)
        if limit < 1:
            raise ApiError(-1100, "Illegal characters found in parameter 'limit'.")
        return {
            "lastUpdateId": market.update_id,
            "bids": [[s8(lv.price), s8(lv.qty)] for lv in market.bids[:limit]],
            "asks": [[s8(lv.price), s8(lv.qty)] for lv in market.asks[:limit]],
        }

    def _each_market(self, params: Params) -> tuple[list[PairMarket], bool]:
        names = self._symbols_param(params)
        single = "symbol" in params
        return [self.engine.market(n) for n in names], single

    def ticker_price(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Market data endpoints, Symbol price ticker GET /api/v3/ticker/price."""
        markets, single = self._each_market(params)
        rows = [{"symbol": m.spec.symbol, "price": s8(m.last_price)} for m in markets]
        return rows[0] if single else rows

    def book_ticker(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Market data endpoints, Symbol order book ticker.

        GET /api/v3/ticker/bookTicker
        """
        markets, single = self._each_market(params)
        rows = [self._book_row(m) for m in markets]
        return rows[0] if single else rows

    @staticmethod
    def _book_row(m: PairMarket) -> dict[str, Any]:
        bid, ask = m.best_bid(), m.best_ask()
        zero = Decimal(0)
        return {
            "symbol": m.spec.symbol,
            "bidPrice": s8(bid.price if bid else zero),
            "bidQty": s8(bid.qty if bid else zero),
            "askPrice": s8(ask.price if ask else zero),
            "askQty": s8(ask.qty if ask else zero),
        }

    def ticker_24hr(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Market data endpoints, 24hr ticker price change statistics.

        GET /api/v3/ticker/24hr
        """
        markets, single = self._each_market(params)
        now = now_ms()
        rows = []
        for m in markets:
            last = self._last(m)
            change = last - m.open_price
            weighted = m.quote_volume / m.volume if m.volume else last
            rows.append(
                {
                    "symbol": m.spec.symbol,
                    "priceChange": s8(change),
                    "priceChangePercent": f"{change / m.open_price * 100:.3f}",
                    "weightedAvgPrice": s8(weighted.quantize(Decimal("1e-8"))),
                    "prevClosePrice": s8(m.open_price),
                    "lastPrice": s8(last),
                    "lastQty": s8(m.last_qty),
                    **{k: v for k, v in self._book_row(m).items() if k != "symbol"},
                    "openPrice": s8(m.open_price),
                    "highPrice": s8(max(m.high, last)),
                    "lowPrice": s8(min(m.low, last)),
                    "volume": s8(m.volume),
                    "quoteVolume": s8(m.quote_volume.quantize(Decimal("1e-8"))),
                    "openTime": now - 86_400_000,
                    "closeTime": now,
                    "firstId": 1 if m.trade_count else -1,
                    "lastId": m.trade_count if m.trade_count else -1,
                    "count": m.trade_count,
                }
            )
        return rows[0] if single else rows

    @staticmethod
    def _last(m: PairMarket) -> Decimal:
        """Last traded price, or the book's mid (on the tick grid) before any trade."""
        if m.trade_count:
            return m.last_price
        bid, ask = m.best_bid(), m.best_ask()
        if bid and ask:
            return ((bid.price + ask.price) / 2).quantize(m.spec.tick)
        return m.mid.quantize(m.spec.tick)

    # -- Account and trading endpoints -----------------------------------------
    def account(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Account endpoints, Account information (USER_DATA).

        GET /api/v3/account
        """
        account = self.engine.account(api_key or "")
        venue = self.engine.venue
        assets = sorted(set(account.free) | set(account.locked))

        def rate(bps: int) -> str:
            return s8(Decimal(bps) / 10_000)

        return {
            "makerCommission": venue.maker_fee_bps,
            "takerCommission": venue.taker_fee_bps,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": rate(venue.maker_fee_bps),
                "taker": rate(venue.taker_fee_bps),
                "buyer": rate(0),
                "seller": rate(0),
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now_ms(),
            "accountType": "SPOT",
            "balances": [
                {
                    "asset": a,
                    "free": s8(account.free.get(a, Decimal(0))),
                    "locked": s8(account.locked.get(a, Decimal(0))),
                }
                for a in assets
            ],
            "permissions": ["SPOT"],
            "uid": 1,
        }

    def new_order(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Trading endpoints, New order (TRADE) POST /api/v3/order."""
        req = self._order_request(params)
        resp_type = params.get("newOrderRespType", "FULL")
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise ApiError(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
        order = self.engine.place(api_key or "", req)
        if self._take_timeout_fault(req.symbol):
            # The -1007 case: the order WAS placed and filled, the caller cannot know.
            return json_response(TIMEOUT_BODY, 408)
        return self._order_response(order, resp_type)

    def _order_request(self, params: Params) -> OrderRequest:
        symbol = _required(params, "symbol")
        self.engine.market(symbol)
        side = _required(params, "side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        order_type = _required(params, "type")
        if order_type not in ("MARKET", "LIMIT"):
            raise ApiError(-1116, "Invalid orderType.")
        quantity = _decimal(params, "quantity")
        quote_qty = _decimal(params, "quoteOrderQty")
        price = _decimal(params, "price")
        tif = params.get("timeInForce")
        if order_type == "MARKET":
            if tif is not None:
                raise ApiError(-1106, "Parameter 'timeInForce' sent when not required.")
            if price is not None:
                raise ApiError(-1106, "Parameter 'price' sent when not required.")
            if quantity is None and quote_qty is None:
                raise ApiError(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            if quantity is not None and quote_qty is not None:
                raise ApiError(-1128, "Combination of optional parameters invalid.")
            tif = "GTC"
        else:
            if tif is None:
                raise _mandatory("timeInForce")
            if tif not in ("GTC", "IOC", "FOK"):
                raise ApiError(-1115, "Invalid timeInForce.")
            if quantity is None:
                raise _mandatory("quantity")
            if price is None:
                raise _mandatory("price")
            if quote_qty is not None:
                raise ApiError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        client_id = params.get("newClientOrderId") or _generated_client_id()
        if not _CLIENT_ID.match(client_id):
            raise ApiError(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; "
                "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
            )
        return OrderRequest(symbol, side, order_type, tif, quantity, quote_qty, price, client_id)

    def _take_timeout_fault(self, symbol: str) -> bool:
        """Consume one ``timeout_after_fill`` fault if it applies to ``symbol``."""
        value = self.faults.extra("timeout_after_fill")  # noqa: S610 - not Django
        if not value:
            return False
        if value is True:
            return True
        if isinstance(value, dict):
            if value.get("symbol") not in (None, symbol):
                return False
            count = int(value.get("count", 1))
            remaining: Any = {**value, "count": count - 1} if count > 1 else None
        else:
            count = int(value)
            remaining = count - 1 if count > 1 else None
        extra = dict(self.faults.snapshot()["extra"])
        if remaining is None:
            extra.pop("timeout_after_fill", None)
        else:
            extra["timeout_after_fill"] = remaining
        self.faults.configure(extra=extra)
        return True

    def _order_response(self, order: Order, resp_type: str) -> dict[str, Any]:
        ack = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "transactTime": order.time,
        }
        if resp_type == "ACK":
            return ack
        result = {
            **ack,
            "price": s8(order.price),
            "origQty": s8(order.orig_qty),
            "executedQty": s8(order.executed_qty),
            "origQuoteOrderQty": s8(order.orig_quote_qty),
            "cummulativeQuoteQty": s8(order.cummulative_quote_qty),
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
            "workingTime": order.time,
            "selfTradePreventionMode": "NONE",
        }
        if resp_type == "RESULT":
            return result
        return {
            **result,
            "fills": [
                {
                    "price": s8(t.price),
                    "qty": s8(t.qty),
                    "commission": s8(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.id,
                }
                for t in order.trades
            ],
        }

    def _lookup_ids(self, params: Params) -> tuple[str, int | None, str | None]:
        symbol = _required(params, "symbol")
        order_id = _int(params, "orderId")
        client_id = params.get("origClientOrderId") or None
        if order_id is None and client_id is None:
            raise ApiError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        return symbol, order_id, client_id

    def query_order(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Account endpoints, Query order (USER_DATA) GET /api/v3/order."""
        symbol, order_id, client_id = self._lookup_ids(params)
        return self._order_status(
            self.engine.find_order(api_key or "", symbol, order_id, client_id)
        )

    def _order_status(self, order: Order) -> dict[str, Any]:
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": s8(order.price),
            "origQty": s8(order.orig_qty),
            "executedQty": s8(order.executed_qty),
            "cummulativeQuoteQty": s8(order.cummulative_quote_qty),
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
            "stopPrice": s8(Decimal(0)),
            "icebergQty": s8(Decimal(0)),
            "time": order.time,
            "updateTime": order.update_time,
            "isWorking": True,
            "workingTime": order.time,
            "origQuoteOrderQty": s8(order.orig_quote_qty),
            "selfTradePreventionMode": "NONE",
        }

    def cancel_order(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Trading endpoints, Cancel order (TRADE) DELETE /api/v3/order."""
        symbol, order_id, client_id = self._lookup_ids(params)
        order = self.engine.cancel(api_key or "", symbol, order_id, client_id)
        status = self._order_status(order)
        return {
            "symbol": order.symbol,
            "origClientOrderId": order.client_order_id,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": params.get("newClientOrderId") or _generated_client_id(),
            "transactTime": order.update_time,
            **{k: status[k] for k in ("price", "origQty", "executedQty", "origQuoteOrderQty")},
            "cummulativeQuoteQty": status["cummulativeQuoteQty"],
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
            "selfTradePreventionMode": "NONE",
        }

    def open_orders(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Account endpoints, Current open orders (USER_DATA).

        GET /api/v3/openOrders
        """
        symbols = [params["symbol"]] if "symbol" in params else list(self.engine.markets)
        rows: list[dict[str, Any]] = []
        for symbol in symbols:
            self.engine.market(symbol)
            rows.extend(
                self._order_status(o)
                for o in self.engine.orders[symbol]
                if o.api_key == api_key and o.is_open
            )
        return rows

    def my_trades(self, params: Params, api_key: str | None) -> Any:
        """Binance Spot API: Account endpoints, Account trade list (USER_DATA).

        GET /api/v3/myTrades
        """
        symbol = _required(params, "symbol")
        self.engine.market(symbol)
        order_id = _int(params, "orderId")
        from_id = _int(params, "fromId")
        start, end = _int(params, "startTime"), _int(params, "endTime")
        limit = min(_int(params, "limit") or 500, 1000)
        rows: list[Trade] = [
            t
            for t in self.engine.trades[symbol]
            if t.api_key == api_key
            and (order_id is None or t.order_id == order_id)
            and (from_id is None or t.id >= from_id)
            and (start is None or t.time >= start)
            and (end is None or t.time <= end)
        ]
        return [
            {
                "symbol": t.symbol,
                "id": t.id,
                "orderId": t.order_id,
                "orderListId": -1,
                "price": s8(t.price),
                "qty": s8(t.qty),
                "quoteQty": s8(t.quote_qty),
                "commission": s8(t.commission),
                "commissionAsset": t.commission_asset,
                "time": t.time,
                "isBuyer": t.is_buyer,
                "isMaker": t.is_maker,
                "isBestMatch": True,
            }
            for t in rows[:limit]
        ]


def _mandatory(name: str) -> ApiError:
    return ApiError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def _required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise _mandatory(name)
    return value


def _int(params: Params, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _INT.match(value):
        raise ApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(value)


def _decimal(params: Params, name: str) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    match = _DECIMAL.match(value)
    if not match:
        raise ApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        )
    frac = (match.group(2) or ".")[1:].rstrip("0")
    if len(frac) > 8:
        raise ApiError(-1111, f"Parameter '{name}' has too much precision.")
    number = Decimal(value)
    if number <= 0:
        raise ApiError(-1013, f"Invalid {'quantity' if name != 'price' else 'price'}.")
    return number


def _generated_client_id() -> str:
    return secrets.token_urlsafe(16).replace("-", "A").replace("_", "B")[:22]
