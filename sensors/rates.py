"""Rates refresh inside the sensor: no run (and no process start) every 30 s."""

import dagster as dg

from assets.rates import exchange_rates, rates_metadata, sync_rates
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
