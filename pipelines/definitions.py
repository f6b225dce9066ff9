"""The single assembly point of the Dagster code location (``workspace.yaml``).

Reads like a table of contents: assets, checks, jobs, schedules, sensors
and the resources they use. Resource fields left empty fall back to
``wallet.config.load_settings()`` at run time (the sandbox's endpoints in
dev); secrets come from the environment through ``dg.EnvVar`` when it
provides them, so they are read at run time and never shown in the UI.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from assets.analytics import merchant_daily_volume, payments_fact
from assets.chains import chain_confirmations
from assets.compliance import monthly_tds_report, sanctions_list
from assets.rates import exchange_rates, order_books, rates_fresh
from assets.reconciliation import reconciliation_clean, reconciliation_report
from assets.settlement import float_above_minimum, ledger_balanced, no_payment_stuck, settlements
from pipelines import dagster_patches
from pipelines.jobs import (
    analytics_job,
    confirmations_job,
    rates_job,
    reconciliation_job,
    settlement_job,
)
from pipelines.resources import resources
from pipelines.schedules import analytics_schedule, reconciliation_schedule
from sensors import chains, payments
from sensors.chains import all_chains_sensor
from sensors.combined import housekeeping_sensor, outbox_sensor
from sensors.health import run_failure_alerts
from sensors.monitoring import monitoring_sensor
from sensors.payments import payments_sensor_every
from sensors.rates import (
    BOOKS_INTERVAL_S,
    BOOKS_SAFETY_NET_INTERVAL_S,
    order_books_sensor_every,
    rates_sensor,
)

# Sensor ticks build a DagsterInstance each: stop each one re-reading Dagster's
# migration scripts (pipelines/dagster_patches.py says why this is safe).
dagster_patches.install()


def build_defs(
    executor: Any = dg.in_process_executor, *, warm_worker: bool | None = None
) -> dg.Definitions:
    """The code location's definitions on ``executor``.

    ``warm_worker`` (default: ``settlement_worker`` in settings, which
    ``taskforce run`` sets): a ``taskforce settle-worker`` pays confirmed
    payments and watches the chains every second and refreshes the order
    books every 10 s, so the payments, chains and order-books sensors tick
    as its slower safety net.

    In-process by default: each run already is its own process (the run
    launcher starts one per run), and our jobs are one or a few short steps,
    so a second process per step only adds a Python start-up to every run
    (seconds on a busy 2-core machine: bench (2) measured it on the
    vendor-paid path). ``taskforce.celery_location`` passes the Celery executor.
    """
    if warm_worker is None:
        from wallet.config import load_settings

        warm_worker = load_settings().settlement_worker
    return dg.Definitions(
        assets=[
            exchange_rates,
            order_books,
            settlements,
            chain_confirmations,
            reconciliation_report,
            payments_fact,
            merchant_daily_volume,
            sanctions_list,
            monthly_tds_report,
        ],
        asset_checks=[
            rates_fresh,
            ledger_balanced,
            no_payment_stuck,
            float_above_minimum,
            reconciliation_clean,
        ],
        jobs=[settlement_job, confirmations_job, rates_job, reconciliation_job, analytics_job],
        schedules=[reconciliation_schedule, analytics_schedule],
        sensors=[
            (
                payments_sensor_every(
                    payments.SAFETY_NET_INTERVAL_S,
                    sell_retry_after_s=payments.SAFETY_NET_SELL_AFTER_S,
                )
                if warm_worker
                else payments.payments_sensor
            ),
            rates_sensor,
            order_books_sensor_every(
                BOOKS_SAFETY_NET_INTERVAL_S if warm_worker else BOOKS_INTERVAL_S
            ),
            # Cheap cursor-less checks share ticks (sensors/combined.py says why).
            housekeeping_sensor,  # rates age, stuck payments, float, Solana pool
            outbox_sensor,  # merchant webhooks, payer pushes, custody's withdrawals
            run_failure_alerts,
            monitoring_sensor,
            # Every chain, one tick.
            all_chains_sensor(
                chains.SAFETY_NET_INTERVAL_S if warm_worker else chains.CHAINS_INTERVAL_S
            ),
        ],
        resources=resources(),
        executor=executor,
    )


defs = build_defs()
