"""Cheap checks that share one sensor tick: what the code location runs for them.

Every Dagster sensor tick has a fixed cost whatever the sensor does: the
daemon's tick bookkeeping in its storage, two gRPC hops (daemon → code-server
proxy → code server) and, for a sensor with resources, a fresh
``DagsterInstance`` in the code server (about 60 ms of CPU on SQLite, mostly
Dagster's own schema check). For a check that is one query or one HTTP call
that overhead is most of the tick, so checks that need neither a cursor nor
runs are grouped here: one tick runs each in turn.

Each part stays an ordinary sensor definition (its tests call it with
``build_sensor_context``); only the groups are registered in
``pipelines.definitions``. A part that fails does not stop the others; the
tick then fails naming it, so the failure shows in the Dagster UI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from sensors.addresses import solana_pool_sensor
from sensors.health import float_low_sensor, rates_age_sensor, stuck_payments_sensor
from sensors.merchants import merchant_webhooks_sensor
from sensors.notifications import push_notifications_sensor
from sensors.sweeps import sweeps_sensor
from sensors.withdrawals import withdrawals_sensor


class PartsFailedError(Exception):
    """One or more parts of a combined sensor raised; the others ran."""


def combined_sensor(
    name: str,
    parts: Sequence[dg.SensorDefinition],
    *,
    minimum_interval_seconds: int,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """One sensor whose tick runs each of ``parts`` (cursor-less, run-less sensors) in turn."""
    keys: set[str] = set().union(*(p.required_resource_keys for p in parts))

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys=keys,
        description="Runs, each tick: " + ", ".join(p.name for p in parts) + ".",
    )
    def _sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult:
        # The parts take their resources from ``context.resources``; ``_resources``
        # only absorbs what a direct call (``sensor(context)``, as in tests) passes.
        notes: list[str] = []
        events: list[Any] = []
        failed: list[tuple[str, BaseException]] = []
        for part in parts:
            try:
                result = part(context)
            except Exception as exc:  # reported below, after the other parts ran
                context.log.exception(f"{part.name} failed")
                failed.append((part.name, exc))
                continue
            if isinstance(result, dg.SensorResult):
                if result.run_requests or result.cursor is not None:
                    raise TypeError(f"{part.name} wants runs or a cursor: register it on its own")
                events.extend(result.asset_events or [])
                result = result.skip_reason
            if isinstance(result, dg.SkipReason):
                notes.append(f"{part.name}: {result.skip_message}")
        if failed:
            names = ", ".join(n for n, _ in failed)
            raise PartsFailedError(f"{names} failed: {failed[0][1]!r}") from failed[0][1]
        return dg.SensorResult(asset_events=events, skip_reason=dg.SkipReason("; ".join(notes)))

    return _sensor


# Alerts, the Solana address pool and custody's sweeps: each a query or one HTTP call
# when idle (a sweep pass with nothing due is one statement), none urgent.
housekeeping_sensor = combined_sensor(
    "housekeeping_sensor",
    [rates_age_sensor, stuck_payments_sensor, float_low_sensor, solana_pool_sensor, sweeps_sensor],
    minimum_interval_seconds=30,
)

# Queues worked with leased claims: the two outboxes (merchant webhooks, payer pushes)
# and custody's withdrawals (an idle pass is one indexed query each).
outbox_sensor = combined_sensor(
    "outbox_sensor",
    [merchant_webhooks_sensor, push_notifications_sensor, withdrawals_sensor],
    minimum_interval_seconds=15,
)
