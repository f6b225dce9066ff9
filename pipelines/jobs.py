"""Jobs: what a run does. Sensors and schedules point at these."""

from __future__ import annotations

import dagster as dg

from assets.analytics import merchant_daily_volume, payments_fact
from assets.chains import chain_confirmations
from assets.rates import exchange_rates
from assets.reconciliation import reconciliation_report
from assets.settlement import settlements

# Without its checks: a settlement run must not pay for a full ledger scan.
settlement_job = dg.define_asset_job(
    "settlement_job",
    selection=dg.AssetSelection.assets(settlements).without_checks(),
    description="Settle the given payments (vendor payout, sale, booking).",
)
confirmations_job = dg.define_asset_job(
    "confirmations_job", selection=dg.AssetSelection.assets(chain_confirmations)
)
rates_job = dg.define_asset_job("rates_job", selection=dg.AssetSelection.assets(exchange_rates))
reconciliation_job = dg.define_asset_job(
    "reconciliation_job",
    selection=dg.AssetSelection.assets(reconciliation_report),
    partitions_def=reconciliation_report.partitions_def,
)
# The ledger check is blocking: analyst tables are not rebuilt from unsound books.
analytics_job = dg.define_asset_job(
    "analytics_job",
    selection=dg.AssetSelection.assets(settlements, payments_fact, merchant_daily_volume),
)
