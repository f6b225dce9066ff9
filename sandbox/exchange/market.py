"""The simulated market of one pair: a seeded random-walk mid and an order book.

The mid moves one step per tick (default 1 s) on a seeded RNG, mean-reverting
gently towards an anchor so long runs stay near realistic prices. Ticks are
computed lazily when someone looks (no background thread: an idle stand-in
costs nothing). The book is regenerated around the mid whenever the tick, the
effective mid (a price-jump fault) or the book mode changes; orders consume
it in between, so two market orders in the same second see the depleted
book, as on a real venue. Prices and quantities are exact ``Decimal``s on the
pair's tick and step grids.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

BOOK_LEVELS = 25
THIN_FACTOR = Decimal(1000)  # a thin book holds 1/1000 of the usual depth
THIN_LEVELS = 3
MAX_CATCH_UP = 3600  # after a long idle period, walk at most this many steps
BPS = Decimal(10_000)


@dataclass(frozen=True)
class PairSpec:
    """Static facts about one symbol: grids, filters and how its market behaves.

    ``vol_bps`` is the standard deviation of one tick's move; ``level_notional``
    is the typical quote-asset value resting on one book level.
    """

    symbol: str
    base: str
    quote: str
    mid: Decimal
    tick: Decimal
    step: Decimal
    min_notional: Decimal
    max_qty: Decimal
    vol_bps: Decimal
    level_notional: Decimal
    spacing_bps: Decimal = Decimal(1)
    half_spread_bps: Decimal = Decimal("0.5")


def floor_to(value: Decimal, grid: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``grid``."""
    return (value / grid).to_integral_value(rounding=ROUND_FLOOR) * grid


def ceil_to(value: Decimal, grid: Decimal) -> Decimal:
    """``value`` rounded up to a multiple of ``grid``."""
    return (value / grid).to_integral_value(rounding=ROUND_CEILING) * grid


def on_grid(value: Decimal, grid: Decimal) -> bool:
    return (value / grid) == (value / grid).to_integral_value()


@dataclass
class Level:
    price: Decimal
    qty: Decimal


@dataclass
class PairMarket:
    """Mutable market state of one pair. Callers hold the engine lock."""

    spec: PairSpec
    seed: int
    mid: Decimal = Decimal(0)
    anchor: Decimal = Decimal(0)
    tick_no: int = 0
    mode: str = "normal"  # set by the admin endpoint: normal | thin | empty
    bids: list[Level] = field(default_factory=list)  # best (highest) first
    asks: list[Level] = field(default_factory=list)  # best (lowest) first
    book_key: tuple[int, Decimal, str] | None = None
    update_id: int = 0
    open_price: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    low: Decimal = Decimal(0)
    last_price: Decimal = Decimal(0)
    last_qty: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    trade_count: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.mid = self.anchor = self.spec.mid
        self.open_price = self.high = self.low = self.last_price = self.spec.mid
        self._rng = random.Random(f"walk:{self.seed}:{self.spec.symbol}")

    # -- the random walk ---------------------------------------------------
    def advance_to(self, target_tick: int) -> None:
        """Walk the mid forward to ``target_tick`` (never backwards)."""
        if target_tick <= self.tick_no:
            return
        if target_tick - self.tick_no > MAX_CATCH_UP:
            self.tick_no = target_tick - MAX_CATCH_UP
        vol = float(self.spec.vol_bps / BPS)
        while self.tick_no < target_tick:
            self.tick_no += 1
            shock = Decimal(repr(round(self._rng.gauss(0.0, vol), 10)))
            reversion = (self.anchor - self.mid) / self.mid / 500
            self.mid = (self.mid * (1 + shock + reversion)).quantize(Decimal("1e-14"))
            if self.mid <= self.spec.tick:
                self.mid = self.spec.tick * 2

    def set_price(self, price: Decimal) -> None:
        """Move the mid (and the anchor it reverts to) to ``price`` at once."""
        self.mid = self.anchor = price
        self.book_key = None

    # -- the book ----------------------------------------------------------
    def effective_mid(self, jump_pct: Decimal) -> Decimal:
        return self.mid * (1 + jump_pct / 100)

    def refresh_book(self, jump_pct: Decimal, mode: str) -> bool:
        """Regenerate the book if the tick, effective mid or mode changed."""
        mid = self.effective_mid(jump_pct)
        key = (self.tick_no, mid, mode)
        if key == self.book_key:
            return False
        self.book_key = key
        self.update_id += 1
        self._generate(mid, mode)
        return True

    def _generate(self, mid: Decimal, mode: str) -> None:
        spec = self.spec
        self.bids, self.asks = [], []
        if mode == "empty":
            return
        rng = random.Random(f"book:{self.seed}:{spec.symbol}:{self.tick_no}:{mid}")
        spacing = max(spec.tick, floor_to(mid * spec.spacing_bps / BPS, spec.tick))
        half = max(spec.tick, floor_to(mid * spec.half_spread_bps / BPS, spec.tick))
        best_bid = floor_to(mid - half, spec.tick)
        best_ask = ceil_to(mid + half, spec.tick)
        if best_ask <= best_bid:
            best_ask = best_bid + spec.tick
        levels = THIN_LEVELS if mode == "thin" else BOOK_LEVELS
        notional = spec.level_notional / (THIN_FACTOR if mode == "thin" else 1)
        for i in range(levels):
            for side, price in (
                (self.bids, best_bid - i * spacing),
                (self.asks, best_ask + i * spacing),
            ):
                if price <= 0:
                    continue
                factor = Decimal(repr(round(rng.uniform(0.6, 1.4), 4))) * (1 + Decimal(i) / 8)
                qty = max(spec.step, floor_to(notional * factor / price, spec.step))
                side.append(Level(price, qty))

    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    def record_trade(self, price: Decimal, qty: Decimal) -> None:
        self.last_price, self.last_qty = price, qty
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += qty
        self.quote_volume += price * qty
        self.trade_count += 1
