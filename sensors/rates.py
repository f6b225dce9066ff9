"""Rates and order books refresh inside their sensors: no run (and no process start) per tick."""

import dagster as dg

from assets.rates import books_metadata, exchange_rates, rates_metadata, refresh_books, sync_rates
from pipelines.resources import AlertsResource, RatesResource, WalletDatabase


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


BOOKS_INTERVAL_S = 10
# With the warm worker (``settlement_worker``) refreshing the books every 10 s
# (wallet/rates/book_loop.py), this sensor only backs it up: every 20 s still keeps
# the books inside their 30-s age limit while the worker is down, at a third of the
# ticks (each about 0.3 % of a core, idle, for each tick a minute).
BOOKS_SAFETY_NET_INTERVAL_S = 20


def order_books_sensor_every(seconds: int) -> dg.SensorDefinition:
    """The order-books sensor ticking at most every ``seconds``."""

    @dg.sensor(
        name="order_books_sensor",
        minimum_interval_seconds=seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(db: WalletDatabase, alerts: AlertsResource, rates: RatesResource) -> dg.SkipReason:
        """Refresh the cached order books that quotes size their routes over.

        No materialisation is reported per tick (the ``order_books`` asset's
        docstring says why); the tick's skip message says what was stored.
        """
        snapshot = refresh_books(db.factory(), rates, alerts.sink(db))
        if snapshot is None:
            return dg.SkipReason("no venue answered; the cached books were left to age")
        meta = books_metadata(snapshot)
        return dg.SkipReason(f"stored {meta['books']} books ({meta['levels']} levels)")

    return _sensor


order_books_sensor = order_books_sensor_every(BOOKS_INTERVAL_S)
