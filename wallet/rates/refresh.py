"""One rates sync: fetch every source, aggregate, cache, record, alert.

:func:`refresh_rates` is what the ``exchange_rates`` Dagster asset calls on
its schedule (every 30 s by default). It is safe to rerun: the cache is
overwritten and history rows are observations, so a duplicate run adds a
duplicate observation at worst and never changes a quote's arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from wallet.rates.aggregate import aggregate
from wallet.rates.cache import RateCache
from wallet.rates.config import RatesConfig
from wallet.rates.history import RateHistoryWriter, median_rows
from wallet.rates.sources import RateSource
from wallet.rates.types import RateObservation, RatesSnapshot

Alert = Callable[[str, dict[str, Any]], None]


def no_alert(kind: str, payload: dict[str, Any]) -> None:
    """An alert hook that drops everything (until the alerting interface lands)."""


def refresh_rates(
    sources: Sequence[RateSource],
    cache: RateCache,
    history_writer: RateHistoryWriter,
    now: datetime,
    alert: Alert = no_alert,
    config: RatesConfig | None = None,
) -> RatesSnapshot:
    """Materialise the current INR rate of every configured asset.

    Alerts: ``rate_source_error`` (a source failed entirely), ``rate_anomaly``
    (a source value excluded: stale, jump, outlier) and ``rate_missing``
    (an asset has no rate this round, so it cannot be quoted).
    """
    config = config or RatesConfig()
    observations: list[RateObservation] = []
    errors: dict[str, str] = {}
    for source in sources:
        try:
            values = source.fetch(config.assets)
        except Exception as exc:  # one broken venue must not stop the others
            detail = getattr(exc, "message", None) or type(exc).__name__
            errors[source.name] = detail
            alert("rate_source_error", {"source": source.name, "error": detail})
            continue
        observations.extend(
            RateObservation(source.name, asset, rate, observed_at)
            for asset, (rate, observed_at) in sorted(values.items())
            if asset in config.assets
        )

    previous = cache.get_source_values({(o.source, o.asset) for o in observations})
    rates, exclusions = aggregate(observations, previous, now, config)

    max_age = timedelta(seconds=config.rate_max_age_seconds)
    cache.put_rates(rates.values())
    cache.put_source_values(
        {
            (o.source, o.asset): o.rate
            for o in observations
            if o.rate > 0 and now - o.observed_at <= max_age
        }
    )
    history_writer.append([*observations, *median_rows(rates.values())])

    for ex in exclusions:
        alert(
            "rate_anomaly",
            {"source": ex.source, "asset": ex.asset, "reason": ex.reason, "detail": ex.detail},
        )
    missing = tuple(a for a in config.assets if a not in rates)
    if missing:
        alert("rate_missing", {"assets": list(missing)})
    return RatesSnapshot(
        computed_at=now,
        rates=rates,
        observations=tuple(observations),
        exclusions=tuple(exclusions),
        missing=missing,
        source_errors=errors,
    )
