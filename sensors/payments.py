"""The payments sensor: settlement runs for payments that must move, keyed by their ids."""

import hashlib
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dagster as dg

from pipelines.jobs import settlement_job
from pipelines.resources import SettlementResource, WalletDatabase
from wallet.db.base import utcnow
from wallet.settlement.watch import Watermark, newly_confirmed, overdue

BATCH = 20  # payments per run at least: one process start amortised over many payouts
# ...and at most: a run's payouts go out one after another, so a bigger run only
# delays the vendors at its end.
MAX_BATCH = 250
# Runs the instance executes at once (``taskforce/dagster_instance.py``): a backlog
# is split into about this many runs, not into runs of ``BATCH`` that queue behind
# each other, each a process start (several seconds of a core) for twenty payouts.
RUN_SLOTS = 4
# Confirmed payments one tick asks for: a whole backlog (after a Dagster outage)
# in one tick; at 50 a tick, 1,000 payments took twenty ticks to be asked for.
BACKLOG_PER_TICK = 1000
RETRY_AFTER_S = 60.0
# Whoever confirms a payment submits its settlement run at once: "pay now" for
# custodial payments, the chains sensor for external ones. The sensor asks only
# for payments confirmed longer ago than this, so it backs them up without racing
# them (a duplicate run is a whole process start for nothing).
HANDOFF_GRACE_S = 10.0


def settle_key(ids: list[str]) -> str:
    """The run key for settling ``ids``: the same set asks for the same run."""
    return "settle:" + hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:24]


def run_chunks(ids: list[str]) -> list[list[str]]:
    """``ids`` split into runs: one per run slot, each of ``BATCH`` to ``MAX_BATCH``.

    Deterministic in ``ids``, so a repeated tick asks for the same run keys.
    """
    if not ids:
        return []
    size = min(MAX_BATCH, max(BATCH, math.ceil(len(ids) / RUN_SLOTS)))
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def settle_requests(ids: list[str]) -> list[dg.RunRequest]:
    """Settlement runs for newly confirmed ``ids``, keyed by the payments they carry."""
    return [settle_request(chunk, settle_key(chunk)) for chunk in run_chunks(ids)]


def settle_request(ids: list[str], run_key: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key,
        run_config={"ops": {"settlements": {"config": {"payment_ids": ids}}}},
        tags={"taskforce/payments": ",".join(ids)[:4000]},
        job_name=settlement_job.name,
    )


INTERVAL_S = 5
# With the warm worker running (``settlement_worker``) it pays confirmed payments
# within a second and sells each window, so this sensor only backs it up: every 30 s,
# as the chains sensor does. Each tick is the daemon's bookkeeping and a code-server
# evaluation whatever it finds: about 0.3 % of a core, idle, for each tick a minute.
SAFETY_NET_INTERVAL_S = 30
# ...and asks again for unsold payments only this late: dust below a venue's
# minimum waits for volume, and a run per minute for it was a process start each.
SAFETY_NET_SELL_AFTER_S = 900.0


def payments_sensor_every(
    seconds: int, *, sell_retry_after_s: float | None = None
) -> dg.SensorDefinition:
    """The payments sensor ticking at most every ``seconds`` (same name, same cursor).

    Unsold (``paid_out``) payments are asked for again after ``sell_retry_after_s``;
    by default (Dagster sells them) as soon as a sell window has opened since their
    payout, so that a window that sold before their run paid them costs them one
    window's wait, not a window and a minute.
    """

    @dg.sensor(
        name="payments_sensor",
        job=settlement_job,
        minimum_interval_seconds=seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(
        context: dg.SensorEvaluationContext, db: WalletDatabase, settlement: SettlementResource
    ) -> dg.SensorResult | dg.SkipReason:
        window_s = settlement.config().sell_window_seconds
        return _payments_tick(context, db, sell_retry_after_s, window_s)

    return _sensor


LIVE_RUN_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def carried_by_live_runs(instance: dg.DagsterInstance) -> set[str]:
    """Payment ids in settlement runs that are queued or running.

    A run that died is marked failed by run monitoring, so what it carried
    becomes the safety net's again.
    """
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=settlement_job.name, statuses=LIVE_RUN_STATUSES)
    )
    carried: set[str] = set()
    for run in runs:
        carried.update(run_payment_ids(run.run_config))
    return carried


def run_payment_ids(run_config: Mapping[str, Any]) -> list[str]:
    """The payment ids a settlement run's config names (:func:`settle_request`'s shape)."""
    ops = run_config.get("ops") or {}
    config = (ops.get("settlements") or {}).get("config") or {}
    return list(config.get("payment_ids") or [])


def _payments_tick(
    context: dg.SensorEvaluationContext,
    db: WalletDatabase,
    sell_retry_after_s: float | None,
    window_s: int,
) -> dg.SensorResult | dg.SkipReason:
    """Confirmed payments (after the cursor, past the hand-off grace), plus overdue ones.

    Cursor: the watermark (``updated_at``, ``id``) of the newest confirmed
    payment requested. Run keys derive from payment ids, so a duplicate tick
    (or a second daemon) requests nothing twice; overdue payments are
    re-requested at most once per ``RETRY_AFTER_S`` bucket, and not while a
    live run carries them (in a backlog they wait their turn in a queued run,
    and a net run for them was a process start that raced it).
    """
    mark = Watermark.decode(context.cursor)
    now = utcnow()
    if sell_retry_after_s is None:  # paid out before the current window opened
        sell_retry_after_s = now.timestamp() % max(window_s, 1)
    with db.factory()() as session:
        new, advanced = newly_confirmed(
            session, mark, BACKLOG_PER_TICK, until=now - timedelta(seconds=HANDOFF_GRACE_S)
        )
        late = overdue(
            session, now, RETRY_AFTER_S, BACKLOG_PER_TICK, sell_retry_after_s=sell_retry_after_s
        )
    if late:
        skip = set(new) | carried_by_live_runs(context.instance)
        late = [p for p in late if p not in skip]
    requests = settle_requests(new)
    if late:
        # One safety-net run per bucket: the overdue list shifts from tick to tick,
        # and a key derived from it launched a new run (a new process) every tick.
        bucket = int(now.timestamp() // RETRY_AFTER_S)
        requests.append(settle_request(late[:MAX_BATCH], f"retry:{bucket}"))
    if not requests:
        return dg.SkipReason("no payment needs settling")
    return dg.SensorResult(run_requests=requests, cursor=advanced.encode())


payments_sensor = payments_sensor_every(INTERVAL_S)
