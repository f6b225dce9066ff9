"""Conversion routes: how a payer's coin becomes rupees, and how much is needed.

Each asset reaches INR through a graph of spot markets (BONK → USDT → INR,
BTC → INR directly or via USDT, ...). Markets are edges from base to quote;
a route is a path of SELL legs ending in INR, possibly across venues (the
USDT proceeds of a Binance sell are sold on the INR venue).

Sizing works backwards from the rupees needed: for the last leg, the least
input whose sale (walking the bids, minus the venue's taker fee, floored to
the quote asset's minor units as the exchange credits it) yields at least
the target; then the same for the leg before, and so on. Every step is
exact (``Fraction`` and integers) and each input is rounded UP to its minor
units, so selling the returned crypto amount forward is guaranteed to yield
at least the target; :func:`plan_route` re-checks that by selling forward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from wallet.assets import get_asset
from wallet.errors import ConfigurationError, InvalidAmount
from wallet.money import Rounding, divide, format_minor
from wallet.rates.books import Market, OrderBook, market_asset
from wallet.rates.errors import InsufficientLiquidity
from wallet.rates.types import BPS, percent

BookKey = tuple[str, str]  # (venue, market symbol)
Books = Mapping[BookKey, OrderBook]
FeeFn = Callable[[str], int]  # venue -> taker fee in bps

FIAT = "INR"


def book_key(market: Market) -> BookKey:
    return (market.venue, market.symbol)


@dataclass(frozen=True)
class Route:
    """A path of SELL legs from the payer's asset to INR."""

    asset: str
    legs: tuple[Market, ...]

    def describe(self) -> str:
        """Human form, e.g. ``"BONK→USDT@binance→INR@inr"``."""
        return market_asset(self.asset) + "".join(f"→{m.quote}@{m.venue}" for m in self.legs)


@dataclass(frozen=True)
class LegFill:
    """The outcome of selling ``input_minor`` of a market's base into its bids."""

    market: Market
    input_minor: int
    output_minor: int  # quote minor units credited after the taker fee, floored
    top_price: Fraction
    average_price: Fraction
    fee_bps: int


@dataclass(frozen=True)
class RoutePlan:
    """A sized route: sell ``crypto_minor`` along ``route`` for ``proceeds_paise``."""

    route: Route
    crypto_minor: int
    proceeds_paise: int
    fills: tuple[LegFill, ...]
    slippage: Fraction  # 1 − Π(average/top) over the legs; 0.015 is 1.5 %

    @property
    def effective_rate(self) -> Fraction:
        """Paise received per minor unit sold, after depth and venue fees."""
        if self.crypto_minor == 0:
            raise InvalidAmount("an empty plan has no rate")
        return Fraction(self.proceeds_paise, self.crypto_minor)


def _decimals(symbol: str) -> int:
    return get_asset(symbol).decimals


def candidate_routes(asset: str, markets: Iterable[Market], max_legs: int = 3) -> list[Route]:
    """Every simple path of SELL legs from ``asset`` to INR over ``markets``."""
    by_base: dict[str, list[Market]] = {}
    for m in markets:
        by_base.setdefault(m.base, []).append(m)
    start = market_asset(asset)
    routes: list[Route] = []

    def walk(node: str, path: tuple[Market, ...], seen: frozenset[str]) -> None:
        if node == FIAT and path:
            routes.append(Route(asset, path))
            return
        if len(path) >= max_legs:
            return
        for m in sorted(by_base.get(node, ()), key=str):
            if m.quote not in seen:
                walk(m.quote, (*path, m), seen | {m.quote})

    walk(start, (), frozenset({start}))
    return routes


def sell_leg(book: OrderBook, input_minor: int, fee_bps: int) -> LegFill:
    """Sell ``input_minor`` of the base into the bids, best first."""
    market = book.market
    if book.best_bid is None:
        raise InsufficientLiquidity(f"{market} has no bids")
    remaining = Fraction(input_minor, 10 ** _decimals(market.base))
    sold = remaining
    gross = Fraction(0)
    for level in book.bids:
        if remaining <= 0:
            break
        take = min(remaining, level.qty)
        gross += take * level.price
        remaining -= take
    if remaining > 0:
        raise InsufficientLiquidity(f"{market} book cannot absorb the size")
    net = gross * (BPS - fee_bps) / BPS * 10 ** _decimals(market.quote)
    output = divide(net.numerator, net.denominator, Rounding.DOWN)
    average = gross / sold if sold else book.best_bid
    return LegFill(market, input_minor, output, book.best_bid, average, fee_bps)


def input_needed(book: OrderBook, output_minor: int, fee_bps: int) -> int:
    """The least base minor units whose sale credits at least ``output_minor``."""
    market = book.market
    if output_minor <= 0:
        return 0
    gross_needed = Fraction(output_minor, 10 ** _decimals(market.quote)) * BPS / (BPS - fee_bps)
    cum_gross = Fraction(0)
    cum_qty = Fraction(0)
    for level in book.bids:
        value = level.price * level.qty
        if cum_gross + value >= gross_needed:
            need = (cum_qty + (gross_needed - cum_gross) / level.price) * 10 ** _decimals(
                market.base
            )
            return divide(need.numerator, need.denominator, Rounding.UP)
        cum_gross += value
        cum_qty += level.qty
    raise InsufficientLiquidity(f"{market} book cannot absorb the size")


def sell_along(route: Route, crypto_minor: int, books: Books, fees: FeeFn) -> RoutePlan:
    """Sell ``crypto_minor`` forward along ``route`` against ``books``."""
    fills: list[LegFill] = []
    amount = crypto_minor
    factor = Fraction(1)
    for market in route.legs:
        fill = sell_leg(_book(books, market), amount, fees(market.venue))
        fills.append(fill)
        factor *= fill.average_price / fill.top_price
        amount = fill.output_minor
    return RoutePlan(route, crypto_minor, amount, tuple(fills), 1 - factor)


def plan_route(
    route: Route, target_paise: int, books: Books, fees: FeeFn, slippage_limit_bps: int
) -> RoutePlan:
    """Size ``route`` for ``target_paise``; refuse beyond the slippage limit."""
    if _decimals(route.asset) != _decimals(market_asset(route.asset)):
        raise ConfigurationError(f"{route.asset} and its market asset differ in decimals")
    needed = target_paise
    for market in reversed(route.legs):
        needed = input_needed(_book(books, market), needed, fees(market.venue))
    plan = sell_along(route, needed, books, fees)
    if plan.proceeds_paise < target_paise:  # pragma: no cover - guarded by the maths above
        raise RuntimeError(f"route sizing fell short on {route.describe()}")
    if plan.slippage * BPS > slippage_limit_bps:
        raise InsufficientLiquidity(
            f"{route.describe()} slips {percent(plan.slippage)}% for this size "
            f"(limit {format_minor(slippage_limit_bps, 2)}%)"
        )
    return plan


def best_route(
    asset: str, target_paise: int, books: Books, fees: FeeFn, slippage_limit_bps: int
) -> RoutePlan:
    """The route needing the least crypto for ``target_paise`` (cheapest for the payer).

    Ties prefer fewer legs, then the route's name, so the choice is stable.
    """
    routes = candidate_routes(asset, (b.market for b in books.values()))
    if not routes:
        raise InsufficientLiquidity(f"no market route from {asset} to INR")
    plans: list[RoutePlan] = []
    reasons: list[str] = []
    for route in routes:
        try:
            plans.append(plan_route(route, target_paise, books, fees, slippage_limit_bps))
        except InsufficientLiquidity as exc:
            reasons.append(f"{route.describe()}: {exc.message}")
    if not plans:
        raise InsufficientLiquidity(
            f"no route can convert {asset} for this amount: " + "; ".join(reasons)
        )
    return min(plans, key=lambda p: (p.crypto_minor, len(p.route.legs), p.route.describe()))


def _book(books: Books, market: Market) -> OrderBook:
    try:
        return books[book_key(market)]
    except KeyError:
        raise InsufficientLiquidity(f"no order book for {market}") from None
