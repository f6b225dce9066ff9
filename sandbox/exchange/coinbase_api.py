"""Coinbase Exchange public market data (rates only, no trading).

Follows the Coinbase Exchange REST API reference
(https://docs.cdp.coinbase.com/exchange/reference): product ids are
``BASE-QUOTE``; amounts are decimal strings on the product's increments;
unknown products answer 404 ``{"message": "NotFound"}``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sandbox.exchange.engine import ApiError, Engine
from sandbox.exchange.market import PairMarket
from sandbox.http import Request, Response, json_response

_PRODUCT = re.compile(r"^/products/(?P<id>[A-Z0-9]+-[A-Z0-9]+)(?P<ticker>/ticker)?$")


def _s(value: Decimal) -> str:
    """A plain decimal string (never exponent notation such as ``1E-8``)."""
    return format(value, "f")


def _iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CoinbaseApp:
    """The Coinbase-shaped rate source (``--venue coinbase``)."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.name = "exchange-coinbase"

    def handle(self, request: Request) -> Response:
        if request.method != "GET":
            return json_response({"message": "NotFound"}, 404)
        if request.path == "/time":
            return self.time()
        if request.path == "/products":
            return self.products()
        match = _PRODUCT.match(request.path)
        if match is None:
            return json_response({"message": "NotFound"}, 404)
        symbol = match.group("id").replace("-", "")
        with self.engine.lock:
            try:
                market = self.engine.market(symbol)
            except ApiError:
                return json_response({"message": "NotFound"}, 404)
            if match.group("ticker"):
                return self.ticker(market)
            return json_response(self._product(market))

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "head": self.engine.current_tick(),
            "info": {
                "url": self.url,
                "venue": "coinbase",
                "products": [self._id(m) for m in self.engine.markets.values()],
                "settings": self.engine.venue.settings(self.url),
            },
        }

    def admin(self, request: Request) -> Response | None:
        from sandbox.exchange.admin import handle_admin

        return handle_admin(self.engine, request)

    @staticmethod
    def _id(market: PairMarket) -> str:
        return f"{market.spec.base}-{market.spec.quote}"

    def time(self) -> Response:
        """Coinbase Exchange API: Get API server time GET /time."""
        now = datetime.now(UTC)
        return json_response({"iso": _iso(now), "epoch": now.timestamp()})

    def products(self) -> Response:
        """Coinbase Exchange API: Products, Get all known trading pairs GET /products."""
        with self.engine.lock:
            return json_response([self._product(m) for m in self.engine.markets.values()])

    def _product(self, market: PairMarket) -> dict[str, Any]:
        """Coinbase Exchange API: Products, Get single product GET /products/{product_id}."""
        spec = market.spec
        return {
            "id": self._id(market),
            "base_currency": spec.base,
            "quote_currency": spec.quote,
            "quote_increment": _s(spec.tick),
            "base_increment": _s(spec.step),
            "display_name": f"{spec.base}/{spec.quote}",
            "min_market_funds": "1",
            "margin_enabled": False,
            "post_only": False,
            "limit_only": False,
            "cancel_only": False,
            "status": "online",
            "status_message": "",
            "auction_mode": False,
        }

    def ticker(self, market: PairMarket) -> Response:
        """Coinbase Exchange API: Products, Get product ticker GET /products/{product_id}/ticker.

        Last trade, best bid/ask and 24 h volume; the sandbox's "last trade"
        is the mid on the price grid, one synthetic trade per tick.
        """
        spec = market.spec
        bid, ask = market.best_bid(), market.best_ask()
        price = market.effective_mid(self.engine.jump_pct(spec.symbol)).quantize(spec.tick)
        volume = (spec.level_notional * 40 / spec.mid).quantize(Decimal("1e-8"))
        return json_response(
            {
                "ask": _s(ask.price if ask else price),
                "bid": _s(bid.price if bid else price),
                "volume": _s(volume),
                "trade_id": 1_000_000 + market.tick_no,
                "price": _s(price),
                "size": _s(spec.step * 7),
                "time": _iso(datetime.now(UTC)),
                "rfq_volume": "0",
                "conversions_volume": "0",
            }
        )
