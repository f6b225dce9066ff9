"""Production monitoring (issue 10): conditions → incidents through the shared Monitor.

Each tick gathers the facts and evaluates :mod:`wallet.alerts.conditions`
with :meth:`wallet.alerts.monitor.Monitor.in_database`, so every incident
opens once, repeats quietly, and resolves by itself after the quiet period
once its condition clears. Covered here (``sensors.health`` keeps rates age,
stuck payments and the float):

- ``run_failed:<job>`` — resolves when the job's latest finished run succeeds
  (``run_failure_alerts`` in ``sensors.health`` only opens it);
- ``dagster_multiple_daemons:<type>`` — heartbeat history in the cursor,
  because Dagster keeps only the latest beat per daemon type;
- ``chain_lag:<chain>`` — node heads against our scan cursors;
- ``reconciliation_break:<category>`` — from the latest reconciliation report;
- ``webhook_failing:razorpayx`` and ``asset_paused:<asset>``;
- ``withdrawal_stuck:<key>`` — a payer's withdrawal ``held`` or ``broadcast``
  longer than ``withdrawal_stuck_seconds``;
- ``worker_silent:<loop>`` — with ``settlement_worker`` set, a loop of
  ``taskforce settle-worker`` silent longer than ``worker_silence_seconds``.

A fact that cannot be read gives a ``None`` check: an unreachable source
never resolves an incident it cannot see.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from assets.reconciliation import reconciliation_report
from pipelines import resources
from pipelines.resources import WalletDatabase
from wallet.alerts import conditions
from wallet.alerts.channels_webhook import channels_from_settings
from wallet.alerts.monitor import Check, Monitor
from wallet.db.base import utcnow
from wallet.observability import probes, signals
from wallet.observability.config import ObservabilityConfig
from wallet.observability.heartbeats import WARM_LOOPS, last_beats

# Two daemon ids beating within this window mean two daemons (Dagster beats
# every ~30 s); long enough to span several of this sensor's ticks.
DAEMON_WINDOW_SECONDS = 300
RUN_HISTORY = 200  # latest finished runs looked at for run_failed


def _failed_runs(instance: dg.DagsterInstance) -> Check:
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]),
        limit=RUN_HISTORY,
    )
    return conditions.failed_runs(conditions.RunOutcome.from_record(r) for r in records)


def _breaks(instance: dg.DagsterInstance) -> Check | None:
    event = instance.get_latest_materialization_event(reconciliation_report.key)
    materialization = event.asset_materialization if event else None
    if materialization is None:
        return None  # never reconciled yet: nothing known, nothing resolved
    by_category = materialization.metadata.get("by_category")
    counts: Any = by_category.value if by_category is not None else None
    if not isinstance(counts, dict):
        return None
    return conditions.reconciliation_breaks({str(k): int(v) for k, v in counts.items()})


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def monitoring_sensor(context: dg.SensorEvaluationContext, db: WalletDatabase) -> dg.SensorResult:
    """Evaluate the production alert conditions; the cursor holds daemon heartbeats."""
    settings = resources._settings()  # via the module so tests can point it elsewhere
    config = ObservabilityConfig.from_settings(settings)
    factory = db.factory()
    instance = context.instance
    now = utcnow()

    beats = conditions.merge_beats(
        conditions.beats_from_cursor(context.cursor),
        instance.get_daemon_heartbeats().values(),
        now.timestamp(),
        DAEMON_WINDOW_SECONDS,
    )
    found = probes.heads(settings, timeout_s=config.readiness_timeout_seconds)
    heads = {chain: result.value for chain, result in found.items()}
    with factory() as session:
        cursors = signals.scan_cursors(session)
        webhook = conditions.webhook_failing(session, now, config.webhook_silence_seconds)
        paused = conditions.paused_assets(signals.open_pauses(session))
        withdrawals = conditions.withdrawals_stuck(session, now, config.withdrawal_stuck_seconds)
        expected = WARM_LOOPS if settings.settlement_worker else ()
        workers = conditions.workers_silent(
            last_beats(session), expected, now, config.worker_silence_seconds
        )

    monitor = Monitor.in_database(
        factory, channels_from_settings(settings), quiet_seconds=config.alert_quiet_seconds
    )
    outcome = monitor.evaluate(
        _failed_runs(instance),
        conditions.multiple_daemons(beats),
        conditions.chain_lag(heads, cursors, config.chain_lag_max_blocks),
        _breaks(instance),
        webhook,
        paused,
        withdrawals,
        workers,
    )
    summary = (
        f"opened {len(outcome.opened)}, open {len(outcome.repeated)}, "
        f"held {len(outcome.held)}, resolved {len(outcome.resolved)}"
    )
    context.log.info("monitoring: %s", summary)
    return dg.SensorResult(
        cursor=conditions.beats_cursor(beats), skip_reason=dg.SkipReason(summary)
    )
