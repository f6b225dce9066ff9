"""The payments sensor: settlement runs for payments that must move, keyed by their ids."""

import hashlib
from datetime import timedelta

import dagster as dg

from pipelines.jobs import settlement_job
from pipelines.resources import SettlementResource, WalletDatabase
from wallet.db.base import utcnow
from wallet.settlement.watch import Watermark, newly_confirmed, overdue

BATCH = 20  # payments per run: one process start amortised over many payouts
RETRY_AFTER_S = 60.0
# Whoever confirms a payment submits its settlement run at once: "pay now" for
# custodial payments, the chains sensor for external ones. The sensor asks only
# for payments confirmed longer ago than this, so it backs them up without racing
# them (a duplicate run is a whole process start for nothing).
HANDOFF_GRACE_S = 10.0


def settle_key(ids: list[str]) -> str:
    """The run key for settling ``ids``: the same set asks for the same run."""
    return "settle:" + hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:24]


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
    seconds: int, *, sell_retry_after_s: float = RETRY_AFTER_S
) -> dg.SensorDefinition:
    """The payments sensor ticking at most every ``seconds`` (same name, same cursor).

    Unsold (``paid_out``) payments are asked for again after ``sell_retry_after_s``.
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
        return _payments_tick(context, db, sell_retry_after_s)

    return _sensor


def _payments_tick(
    context: dg.SensorEvaluationContext, db: WalletDatabase, sell_retry_after_s: float
) -> dg.SensorResult | dg.SkipReason:
    """Confirmed payments (after the cursor, past the hand-off grace), plus overdue ones.

    Cursor: the watermark (``updated_at``, ``id``) of the newest confirmed
    payment requested. Run keys derive from payment ids, so a duplicate tick
    (or a second daemon) requests nothing twice; overdue payments are
    re-requested at most once per ``RETRY_AFTER_S`` bucket.
    """
    mark = Watermark.decode(context.cursor)
    now = utcnow()
    with db.factory()() as session:
        new, advanced = newly_confirmed(
            session, mark, until=now - timedelta(seconds=HANDOFF_GRACE_S)
        )
        late = [
            p
            for p in overdue(session, now, RETRY_AFTER_S, sell_retry_after_s=sell_retry_after_s)
            if p not in new
        ]
    requests = [
        settle_request(chunk, settle_key(chunk))
        for chunk in (new[i : i + BATCH] for i in range(0, len(new), BATCH))
    ]
    if late:
        # One safety-net run per bucket: the overdue list shifts from tick to tick,
        # and a key derived from it launched a new run (a new process) every tick.
        bucket = int(now.timestamp() // RETRY_AFTER_S)
        requests.append(settle_request(late[:BATCH], f"retry:{bucket}"))
    if not requests:
        return dg.SkipReason("no payment needs settling")
    return dg.SensorResult(run_requests=requests, cursor=advanced.encode())


payments_sensor = payments_sensor_every(INTERVAL_S)
