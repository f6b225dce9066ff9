"""Rates and order books refresh inside their sensors: no run (and no process start) per tick."""

import dagster as dg

from assets.rates import books_metadata, exchange_rates, rates_metadata, sync_books, sync_rates
from pipelines.resources import AlertsResource, RatesResource, WalletDatabase
from wallet.alerts import Alert, Severity

BOOKS_UNAVAILABLE = "order_books_unavailable"


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def rates_sensor(
    db: WalletDatabase, alerts: AlertsResource, rates: RatesResource
) -> dg.SensorResult:
    """Sync every venue's rates and report it as a materialisation of ``exchange_rates``."""
    snapshot = sync_rates(db.factory(), alerts.sink(db), rates)
    return dg.SensorResult(
        asset_events=[
            dg.AssetMaterialization(asset_key=exchange_rates.key, metadata=rates_metadata(snapshot))
        ]
    )


@dg.sensor(minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING)
def order_books_sensor(
    db: WalletDatabase, alerts: AlertsResource, rates: RatesResource
) -> dg.SkipReason:
    """Refresh the cached order books that quotes size their routes over.

    Every 10 s, three times inside ``book_max_age_seconds`` (30 s), so one
    slow or missed tick does not stop quotes. No materialisation is reported
    per tick (the ``order_books`` asset's docstring says why); the tick's
    skip message says what was stored.
    """
    snapshot = sync_books(db.factory(), rates)
    sink = alerts.sink(db)
    if snapshot is None:
        sink.fire(
            Alert(
                BOOKS_UNAVAILABLE,
                BOOKS_UNAVAILABLE,
                Severity.WARNING,
                "no venue answered for order books; quotes stop when the cached books go stale",
            )
        )
        return dg.SkipReason("no venue answered; the cached books were left to age")
    sink.resolve(BOOKS_UNAVAILABLE, "venues answered again")
    meta = books_metadata(snapshot)
    return dg.SkipReason(f"stored {meta['books']} books ({meta['levels']} levels)")
