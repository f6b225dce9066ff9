"""Values that cross the exchange interface: exact Decimals, never floats.

Exchanges speak in decimal strings with their own precision (Binance: 8
places, more than the registry's 6 for USDT), so prices and quantities stay
``Decimal`` here; converting to integer minor units (and choosing the
rounding) is the caller's decision, made with :mod:`wallet.money`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from wallet.exchanges.errors import ExchangeProtocolError

_PLAIN_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def dec(value: object, what: str = "value") -> Decimal:
    """An exact Decimal from a venue's decimal string (or int); floats are refused."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ExchangeProtocolError(f"{what}: expected a decimal string, got {value!r}")
    if isinstance(value, str) and not _PLAIN_DECIMAL.match(value):
        raise ExchangeProtocolError(f"{what}: {value!r} is not a plain decimal")
    return Decimal(value)


def plain(value: Decimal) -> str:
    """Decimal as the venue wants it: plain notation, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


class OrderStatus(enum.StrEnum):
    """Binance Spot order statuses (Enum definitions: Order status)."""

    NEW = "NEW"
    PENDING_NEW = "PENDING_NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PENDING_CANCEL = "PENDING_CANCEL"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"

    @property
    def is_final(self) -> bool:
        """No further fills can happen (FILLED, CANCELED, REJECTED, EXPIRED*)."""
        return self in _FINAL


_FINAL = {
    OrderStatus.FILLED,
    OrderStatus.CANCELED,
    OrderStatus.REJECTED,
    OrderStatus.EXPIRED,
    OrderStatus.EXPIRED_IN_MATCH,
}


@dataclass(frozen=True)
class BookLevel:
    price: Decimal
    qty: Decimal  # base asset


@dataclass(frozen=True)
class OrderBook:
    """A depth snapshot, best level first on each side."""

    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    update_id: int = 0


@dataclass(frozen=True)
class Ticker:
    """Best bid/ask and the last trade price of one pair, in quote per base."""

    venue: str
    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True)
class Fill:
    """One execution of an order (a Binance trade)."""

    trade_id: int
    price: Decimal
    qty: Decimal  # base asset
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str


@dataclass(frozen=True)
class Trade:
    """A row of the account trade list (Binance GET /api/v3/myTrades)."""

    symbol: str
    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_buyer: bool
    is_maker: bool

    def as_fill(self) -> Fill:
        return Fill(
            self.trade_id,
            self.price,
            self.qty,
            self.quote_qty,
            self.commission,
            self.commission_asset,
        )


@dataclass(frozen=True)
class Order:
    """An order as the venue reports it, with its fills when known."""

    symbol: str
    order_id: int
    client_order_id: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT
    status: OrderStatus
    orig_qty: Decimal
    executed_qty: Decimal
    cumulative_quote_qty: Decimal
    fills: tuple[Fill, ...] = ()
    recovered: bool = False  # found by lookup after an ambiguous answer

    def commissions(self) -> Mapping[str, Decimal]:
        """Total commission per asset over the fills."""
        totals: dict[str, Decimal] = {}
        for fill in self.fills:
            totals[fill.commission_asset] = (
                totals.get(fill.commission_asset, Decimal(0)) + fill.commission
            )
        return totals


@dataclass(frozen=True)
class SymbolRules:
    """A pair's trading filters (Binance exchangeInfo: PRICE_FILTER, LOT_SIZE, NOTIONAL)."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    extra: Mapping[str, str] = field(default_factory=dict)

    def floor_qty(self, qty: Decimal) -> Decimal:
        """``qty`` rounded down to the lot step (what can actually be sold)."""
        if self.step_size <= 0:
            return qty
        steps = (qty / self.step_size).to_integral_value(rounding=ROUND_FLOOR)
        return steps * self.step_size
