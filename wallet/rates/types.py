"""Rate values and snapshots.

A rate is an exact ``Fraction``: **paise per minor unit of the asset**
(e.g. BTC at ₹50,00,000 is 5 paise per satoshi). That unit lets any amount
convert with :func:`wallet.money.scale_ratio` and an explicit rounding:
``scale_ratio(sats, rate, Rounding.DOWN)`` is what the coins fetch in paise.
:func:`inr_per_unit` gives the familiar "₹ per coin" for display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from wallet.assets import get_asset
from wallet.money import Rounding, divide, format_minor

BPS = 10_000  # basis points per whole


def percent(ratio: Fraction) -> str:
    """A ratio as a percentage string with two decimals (display only)."""
    scaled = ratio * BPS
    return format_minor(divide(scaled.numerator, scaled.denominator, Rounding.HALF_EVEN), 2)


def rate_from_inr_price(asset: str, inr_per_unit: Fraction) -> Fraction:
    """Paise per minor unit from a price in rupees per whole unit."""
    return inr_per_unit * 100 / 10 ** get_asset(asset).decimals


def inr_per_unit(asset: str, rate: Fraction) -> Fraction:
    """Rupees per whole unit from paise per minor unit."""
    return rate * 10 ** get_asset(asset).decimals / 100


def display_rate(asset: str, rate: Fraction, rounding: Rounding = Rounding.HALF_EVEN) -> str:
    """₹ per whole unit as a decimal string: 2 places, or 8 for sub-rupee coins."""
    price = inr_per_unit(asset, rate)
    places = 2 if price >= 1 else 8
    scaled = price * 10**places
    return format_minor(divide(scaled.numerator, scaled.denominator, rounding), places)


@dataclass(frozen=True)
class RateObservation:
    """One source's rate for one asset at one moment."""

    source: str
    asset: str
    rate: Fraction  # paise per minor unit
    observed_at: datetime


@dataclass(frozen=True)
class AssetRate:
    """The aggregated rate of one asset: the median of the sources that passed."""

    asset: str
    rate: Fraction  # paise per minor unit
    observed_at: datetime  # the oldest observation that went into the median
    sources: tuple[str, ...]
    computed_at: datetime

    @property
    def display(self) -> str:
        return display_rate(self.asset, self.rate)


@dataclass(frozen=True)
class Exclusion:
    """A source value left out of an asset's median, and why (a rate anomaly)."""

    source: str
    asset: str
    reason: str  # "stale" | "jump" | "outlier" | "source_error"
    detail: str


@dataclass(frozen=True)
class RatesSnapshot:
    """What one rates sync produced: the structured result the Dagster asset records."""

    computed_at: datetime
    rates: Mapping[str, AssetRate]
    observations: tuple[RateObservation, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    missing: tuple[str, ...] = ()  # assets with no usable source this round
    source_errors: Mapping[str, str] = field(default_factory=dict)
