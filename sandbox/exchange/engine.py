"""The matching engine behind the Binance-shaped API: accounts, orders, fills.

Liquidity is the synthetic book of :mod:`sandbox.exchange.market`; accounts
(one per API key) trade against it. Semantics follow Binance Spot:

- ``newClientOrderId`` must be unique among the account's *open* orders of
  the symbol only. A MARKET order is never open after it is placed, so
  re-sending one with the same id trades again. This is deliberate: it is
  the hazard the product's sell path has to avoid.
- A MARKET order that exhausts the book fills what it can and the rest is
  ``EXPIRED``; IOC remainders expire; FOK expires unless fully fillable.
- The commission is charged in the asset received (quote on a sell, base on
  a buy) at the venue's taker rate, rounded up to 8 decimals.
- A query by ``origClientOrderId`` that matches several orders (possible only
  after the hazard above) returns the most recent one.

Every amount is an exact ``Decimal``; callers hold :attr:`Engine.lock`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from sandbox.exchange.market import PairMarket, PairSpec, floor_to, on_grid
from sandbox.exchange.venues import Venue

log = logging.getLogger("sandbox.exchange")
EIGHT = Decimal("1e-8")
ZERO = Decimal(0)


class ApiError(Exception):
    """A Binance error answer: ``{"code": code, "msg": msg}`` with an HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Account:
    api_key: str
    secret: str
    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)

    def credit(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + amount

    def debit(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) - amount
        assert self.free[asset] >= 0, f"negative {asset} balance"  # noqa: S101 - engine invariant

    def lock(self, asset: str, amount: Decimal) -> None:
        self.debit(asset, amount)
        self.locked[asset] = self.locked.get(asset, ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] = self.locked.get(asset, ZERO) - amount
        self.credit(asset, amount)


@dataclass
class Trade:
    id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool
    api_key: str


@dataclass
class Order:
    symbol: str
    order_id: int
    client_order_id: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT
    time_in_force: str  # GTC | IOC | FOK
    price: Decimal
    orig_qty: Decimal
    orig_quote_qty: Decimal
    api_key: str
    time: int
    executed_qty: Decimal = ZERO
    cummulative_quote_qty: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    trades: list[Trade] = field(default_factory=list)
    reserved: Decimal = ZERO  # what a resting order still holds locked

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True)
class OrderRequest:
    """A validated new-order request (``quantity`` xor ``quote_qty`` for MARKET)."""

    symbol: str
    side: str
    type: str
    time_in_force: str
    quantity: Decimal | None
    quote_qty: Decimal | None
    price: Decimal | None
    client_order_id: str


class Engine:
    """All mutable state of one venue, guarded by one lock."""

    def __init__(
        self,
        venue: Venue,
        seed: int,
        tick_seconds: float,
        fault_extra: Callable[[str], Any] | None = None,
    ) -> None:
        self.venue = venue
        self.lock = threading.RLock()
        self.started = time.monotonic()
        self.tick_seconds = tick_seconds
        self.fault_extra = fault_extra or (lambda key: None)
        self.markets = {p.symbol: PairMarket(p, seed) for p in venue.pairs}
        self.accounts: dict[str, Account] = {}
        if venue.api_key:
            self.accounts[venue.api_key] = Account(
                venue.api_key, venue.api_secret, dict(venue.balances)
            )
        self.orders: dict[str, list[Order]] = {s: [] for s in self.markets}
        self.trades: dict[str, list[Trade]] = {s: [] for s in self.markets}
        self._next_order = {s: 1 for s in self.markets}
        self._next_trade = {s: 1 for s in self.markets}

    # -- clock, faults and the book ----------------------------------------
    def current_tick(self) -> int:
        if self.tick_seconds <= 0:
            return 0
        return int((time.monotonic() - self.started) / self.tick_seconds)

    def market(self, symbol: str | None) -> PairMarket:
        """The pair's market, advanced to now with faults applied."""
        market = self.markets.get(symbol or "")
        if market is None:
            raise ApiError(-1121, "Invalid symbol.")
        market.advance_to(self.current_tick())
        if market.refresh_book(self.jump_pct(market.spec.symbol), self._mode(market)):
            self._match_resting(market)
        return market

    def jump_pct(self, symbol: str) -> Decimal:
        """Sum of active ``price_jump`` faults for ``symbol`` (percent)."""
        jumps = self.fault_extra("price_jump") or []
        if isinstance(jumps, dict):
            jumps = [jumps]
        total = ZERO
        for jump in jumps:
            if isinstance(jump, dict) and jump.get("symbol") in (symbol, "*"):
                try:
                    total += Decimal(str(jump.get("pct", "0")))
                except InvalidOperation:
                    log.warning("ignoring price_jump with a non-numeric pct: %r", jump)
        # A move of -100 % or more would leave no positive price to quote.
        return max(total, Decimal(-99))

    def _mode(self, market: PairMarket) -> str:
        thin = self.fault_extra("thin_book")
        if isinstance(thin, dict):
            thin = thin.get("symbol")
        names = thin if isinstance(thin, list) else [thin]
        if market.spec.symbol in names or "*" in names:
            return "thin"
        return market.mode

    # -- accounts ----------------------------------------------------------
    def account(self, api_key: str) -> Account:
        account = self.accounts.get(api_key)
        if account is None:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return account

    # -- orders ------------------------------------------------------------
    def find_order(
        self, api_key: str, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order:
        self.market(symbol)
        for order in reversed(self.orders[symbol]):
            if order.api_key != api_key:
                continue
            if order_id is not None and order.order_id != order_id:
                continue
            if client_id is not None and order.client_order_id != client_id:
                continue
            return order
        raise ApiError(-2013, "Order does not exist.")

    def place(self, api_key: str, req: OrderRequest) -> Order:
        """Validate, match and book one new order (Binance POST /api/v3/order)."""
        account = self.account(api_key)
        market = self.market(req.symbol)
        spec = market.spec
        self._check_filters(spec, market, req)
        if any(
            o.is_open and o.client_order_id == req.client_order_id and o.api_key == api_key
            for o in self.orders[req.symbol]
        ):
            raise ApiError(-2010, "Duplicate order sent.")
        fills = self._plan(market, req)
        self._check_balance(account, spec, req, fills)
        now = now_ms()
        order = Order(
            symbol=spec.symbol,
            order_id=self._next_order[spec.symbol],
            client_order_id=req.client_order_id,
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force,
            price=req.price or ZERO,
            orig_qty=req.quantity or ZERO,
            orig_quote_qty=req.quote_qty or ZERO,
            api_key=api_key,
            time=now,
            update_time=now,
        )
        self._next_order[spec.symbol] += 1
        self.orders[spec.symbol].append(order)
        for level_index, qty in fills:
            self._execute(market, account, order, level_index, qty, is_maker=False)
        self._settle_status(market, account, order)
        return order

    def cancel(
        self, api_key: str, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order:
        try:
            order = self.find_order(api_key, symbol, order_id, client_id)
        except ApiError:
            raise ApiError(-2011, "Unknown order sent.") from None
        if not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        account = self.account(api_key)
        spec = self.markets[symbol].spec
        if order.reserved:
            account.unlock(spec.base if order.side == "SELL" else spec.quote, order.reserved)
            order.reserved = ZERO
        order.status = "CANCELED"
        order.update_time = now_ms()
        return order

    def _check_filters(self, spec: PairSpec, market: PairMarket, req: OrderRequest) -> None:
        if req.price is not None and (req.price <= 0 or not on_grid(req.price, spec.tick)):
            raise ApiError(-1013, "Filter failure: PRICE_FILTER")
        if req.quantity is not None:
            qty = req.quantity
            if qty < spec.step or qty > spec.max_qty or not on_grid(qty, spec.step):
                raise ApiError(-1013, "Filter failure: LOT_SIZE")
            # Binance checks MARKET notional against the average price; the mid stands in.
            reference = req.price if req.price is not None else market.mid
            if qty * reference < spec.min_notional:
                raise ApiError(-1013, "Filter failure: NOTIONAL")
        elif req.quote_qty is not None and req.quote_qty < spec.min_notional:
            raise ApiError(-1013, "Filter failure: NOTIONAL")

    def _plan(self, market: PairMarket, req: OrderRequest) -> list[tuple[int, Decimal]]:
        """(level index, qty) pairs the order would take from the book, best first."""
        levels = market.bids if req.side == "SELL" else market.asks
        plan: list[tuple[int, Decimal]] = []
        remaining = req.quantity
        quote_left = req.quote_qty
        for i, level in enumerate(levels):
            if req.price is not None and (
                (req.side == "SELL" and level.price < req.price)
                or (req.side == "BUY" and level.price > req.price)
            ):
                break
            if remaining is not None:
                take = min(remaining, level.qty)
                remaining -= take
            else:
                assert quote_left is not None  # noqa: S101 - validated by the API layer
                take = min(level.qty, floor_to(quote_left / level.price, market.spec.step))
                quote_left -= take * level.price
            if take > 0:
                plan.append((i, take))
            if (remaining is not None and remaining == 0) or take < level.qty:
                break
        if req.time_in_force == "FOK" and remaining:
            return []
        return plan

    def _check_balance(
        self, account: Account, spec: PairSpec, req: OrderRequest, plan: list[tuple[int, Decimal]]
    ) -> None:
        if req.side == "SELL":
            need = req.quantity if req.quantity is not None else sum((q for _, q in plan), ZERO)
            have = account.free.get(spec.base, ZERO)
        else:
            levels = self.markets[spec.symbol].asks
            cost = sum((levels[i].price * q for i, q in plan), ZERO)
            if req.type == "LIMIT" and req.time_in_force == "GTC" and req.quantity is not None:
                assert req.price is not None  # noqa: S101 - LIMIT carries a price
                filled = sum((q for _, q in plan), ZERO)
                cost += (req.quantity - filled) * req.price
            need = req.quote_qty if req.quote_qty is not None else cost
            have = account.free.get(spec.quote, ZERO)
        if need > have:
            raise ApiError(-2010, "Account has insufficient balance for requested action.")

    def _execute(
        self,
        market: PairMarket,
        account: Account,
        order: Order,
        level_index: int,
        qty: Decimal,
        is_maker: bool,
    ) -> None:
        """Trade ``qty`` against one book level; a resting (maker) order trades at its price."""
        spec = market.spec
        levels = market.bids if order.side == "SELL" else market.asks
        level = levels[level_index]
        price = order.price if is_maker else level.price
        quote = (price * qty).quantize(EIGHT)
        fee_bps = self.venue.maker_fee_bps if is_maker else self.venue.taker_fee_bps
        if order.side == "SELL":
            commission = (quote * fee_bps / 10_000).quantize(EIGHT, rounding=ROUND_CEILING)
            commission_asset = spec.quote
            if is_maker:
                account.locked[spec.base] -= qty
                order.reserved -= qty
            else:
                account.debit(spec.base, qty)
            account.credit(spec.quote, quote - commission)
        else:
            commission = (qty * fee_bps / 10_000).quantize(EIGHT, rounding=ROUND_CEILING)
            commission_asset = spec.base
            if is_maker:
                account.locked[spec.quote] -= quote
                order.reserved -= quote
            else:
                account.debit(spec.quote, quote)
            account.credit(spec.base, qty - commission)
        level.qty -= qty
        trade = Trade(
            id=self._next_trade[spec.symbol],
            order_id=order.order_id,
            symbol=spec.symbol,
            price=price,
            qty=qty,
            quote_qty=quote,
            commission=commission,
            commission_asset=commission_asset,
            time=now_ms(),
            is_buyer=order.side == "BUY",
            is_maker=is_maker,
            api_key=account.api_key,
        )
        self._next_trade[spec.symbol] += 1
        self.trades[spec.symbol].append(trade)
        order.trades.append(trade)
        order.executed_qty += qty
        order.cummulative_quote_qty += quote
        order.update_time = trade.time
        market.record_trade(price, qty)

    def _settle_status(self, market: PairMarket, account: Account, order: Order) -> None:
        """Status after the taker pass; GTC LIMIT remainders rest and lock funds."""
        for levels in (market.bids, market.asks):
            levels[:] = [lv for lv in levels if lv.qty > 0]
        target = order.orig_qty if order.orig_qty else None
        if order.type == "MARKET":
            done = (
                order.executed_qty == target
                if target is not None
                else self._quote_done(market.spec, order)
            )
            order.status = "FILLED" if done else "EXPIRED"
        elif order.executed_qty == order.orig_qty:
            order.status = "FILLED"
        elif order.time_in_force in ("IOC", "FOK"):
            order.status = "EXPIRED"
        else:
            order.status = "PARTIALLY_FILLED" if order.executed_qty else "NEW"
            remaining = order.orig_qty - order.executed_qty
            spec = market.spec
            if order.side == "SELL":
                order.reserved = remaining
                account.lock(spec.base, remaining)
            else:
                order.reserved = (remaining * order.price).quantize(EIGHT)
                account.lock(spec.quote, order.reserved)

    def _quote_done(self, spec: PairSpec, order: Order) -> bool:
        """A quoteOrderQty order is done once less than one step's worth is left."""
        left = order.orig_quote_qty - order.cummulative_quote_qty
        last = order.trades[-1].price if order.trades else ZERO
        return bool(order.trades) and left < spec.step * last

    def _match_resting(self, market: PairMarket) -> None:
        """Fill open LIMIT orders that the freshly generated book now crosses (maker)."""
        for order in self.orders[market.spec.symbol]:
            if not order.is_open:
                continue
            account = self.accounts[order.api_key]
            levels = market.bids if order.side == "SELL" else market.asks
            i = 0
            while i < len(levels) and order.executed_qty < order.orig_qty:
                level = levels[i]
                crosses = (
                    level.price >= order.price
                    if order.side == "SELL"
                    else level.price <= order.price
                )
                if not crosses:
                    break
                take = min(level.qty, order.orig_qty - order.executed_qty)
                self._execute(market, account, order, i, take, is_maker=True)
                i += 1
            if order.executed_qty == order.orig_qty:
                order.status = "FILLED"
                if order.reserved and order.side == "BUY":
                    account.unlock(market.spec.quote, order.reserved)
                    order.reserved = ZERO
            elif order.executed_qty:
                order.status = "PARTIALLY_FILLED"
            for side in (market.bids, market.asks):
                side[:] = [lv for lv in side if lv.qty > 0]
