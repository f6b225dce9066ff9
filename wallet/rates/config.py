"""Knobs of rates, routes and circuit breakers.

Percentages are basis points (1 % = 100 bps), amounts are paise, times are
seconds. :meth:`RatesConfig.from_settings` reads a field from ``Settings``
when it exists and falls back to the default here otherwise, so the lead
can add the fields to ``wallet/config.py`` one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from wallet.assets import CRYPTO_ASSETS

DEFAULT_RATED_ASSETS: tuple[str, ...] = (*CRYPTO_ASSETS, "USDT")


def _default_venue_fees() -> dict[str, int]:
    # Public taker fees of the venues we model: Binance spot 0.10 %, WazirX 0.20 %,
    # Coinbase Advanced 0.60 % at the lowest tier.
    return {"binance": 10, "inr": 20, "coinbase": 60}


def _default_breaker_moves() -> dict[str, int]:
    return {"stable": 200, "major": 800, "meme": 2000}


@dataclass(frozen=True)
class RatesConfig:
    """Everything the rate sync, the route finder and the breakers need."""

    assets: tuple[str, ...] = DEFAULT_RATED_ASSETS
    rate_max_age_seconds: int = 60
    rate_outlier_bps: int = 200  # a source this far from the median is dropped
    rate_jump_bps: int = 1000  # a source moving this far since its last value is dropped
    rate_cache_ttl_seconds: int = 300  # cache entries outlive freshness so staleness is explicit
    rate_cache_prefix: str = "taskforce:rates"
    # Order books are refreshed in the background every 10 s (the order_books sensor);
    # a quote refuses a snapshot older than this, and the store keeps it a while longer
    # so old books read as stale rather than missing.
    book_max_age_seconds: int = 30
    book_cache_ttl_seconds: int = 120
    book_depth_levels: int = 100  # per side: what the venues answer for ``limit=100``
    redis_url: str | None = None
    slippage_limit_bps: int = 150
    venue_taker_fee_bps: Mapping[str, int] = field(default_factory=_default_venue_fees)
    usd_inr_rate: str | None = None  # decimal INR per USD for the Coinbase source
    breaker_move_bps: Mapping[str, int] = field(default_factory=_default_breaker_moves)
    breaker_window_seconds: int = 300
    breaker_cooldown_seconds: int = 300
    breaker_min_depth_paise: int = 5_000_000  # the books must absorb ₹50,000 along some route

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> RatesConfig:
        """Build from a ``Settings`` object, using defaults for fields it lacks."""
        return _from_settings(cls, settings, overrides)

    def taker_fee_bps(self, venue: str) -> int:
        try:
            return self.venue_taker_fee_bps[venue]
        except KeyError:
            # An unknown venue is costed at the highest fee we know: never optimistic.
            return max(self.venue_taker_fee_bps.values(), default=100)


def _from_settings(cls: Any, settings: Any, overrides: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in overrides:
            values[f.name] = overrides[f.name]
            continue
        value = getattr(settings, f.name, None)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)
