"""Median across fresh sources with outlier and jump exclusion.

Rules, per asset:
1. Observations older than ``rate_max_age_seconds`` are dropped (``stale``).
2. A source that moved more than ``rate_jump_bps`` since its own previous
   value is dropped this round (``jump``). The new value still becomes its
   "previous" for next round, so a genuine move is accepted once other
   sources confirm it, while a one-tick glitch never reaches a quote.
3. The median of what is left is computed; any source further than
   ``rate_outlier_bps`` from it is dropped (``outlier``) and the rate is
   the median of the rest. With two sources that disagree by more than
   twice the limit both are dropped: we cannot tell which is right, and
   no rate is safer than a wrong one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from fractions import Fraction

from wallet.rates.config import RatesConfig
from wallet.rates.types import BPS, AssetRate, Exclusion, RateObservation, percent


def median(values: Sequence[Fraction]) -> Fraction:
    """Exact median; the mean of the middle two for an even count."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def deviation(value: Fraction, reference: Fraction) -> Fraction:
    """|value − reference| / reference."""
    return abs(value - reference) / reference


def aggregate(
    observations: Iterable[RateObservation],
    previous: Mapping[tuple[str, str], Fraction],
    now: datetime,
    config: RatesConfig,
) -> tuple[dict[str, AssetRate], list[Exclusion]]:
    """Aggregate observations into one rate per asset, listing every exclusion."""
    max_age = timedelta(seconds=config.rate_max_age_seconds)
    by_asset: dict[str, list[RateObservation]] = {}
    exclusions: list[Exclusion] = []
    for obs in observations:
        if obs.rate <= 0:
            exclusions.append(Exclusion(obs.source, obs.asset, "invalid", "non-positive rate"))
            continue
        if now - obs.observed_at > max_age:
            exclusions.append(
                Exclusion(obs.source, obs.asset, "stale", f"observed at {obs.observed_at}")
            )
            continue
        prev = previous.get((obs.source, obs.asset))
        if prev is not None and prev > 0 and deviation(obs.rate, prev) * BPS > config.rate_jump_bps:
            exclusions.append(
                Exclusion(
                    obs.source,
                    obs.asset,
                    "jump",
                    f"moved {percent(deviation(obs.rate, prev))}% since its last value",
                )
            )
            continue
        by_asset.setdefault(obs.asset, []).append(obs)

    rates: dict[str, AssetRate] = {}
    for asset, group in sorted(by_asset.items()):
        centre = median([o.rate for o in group])
        kept: list[RateObservation] = []
        for obs in group:
            off = deviation(obs.rate, centre)
            if off * BPS > config.rate_outlier_bps:
                exclusions.append(
                    Exclusion(obs.source, asset, "outlier", f"{percent(off)}% from the median")
                )
            else:
                kept.append(obs)
        if not kept:
            continue
        rates[asset] = AssetRate(
            asset=asset,
            rate=median([o.rate for o in kept]),
            observed_at=min(o.observed_at for o in kept),
            sources=tuple(sorted(o.source for o in kept)),
            computed_at=now,
        )
    return rates, exclusions
