"""Alert conditions: pure functions from observed facts to a :class:`Check`.

Each returns every incident of its kind firing *now* (an empty check means
all clear, and :class:`~wallet.alerts.monitor.Monitor` resolves what was
open), or ``None`` when the facts could not be read — an unreachable
provider must not "resolve" an incident it cannot see. Dagster sensors
gather the facts (a session, a rates snapshot, run records, probe results)
and hand the checks to ``Monitor.evaluate``; nothing here imports Dagster.

Incident keys (what dedupes and what resolves):

=======================  ===========================================
``run_failed:<job>``     the job's latest finished run failed
``payments_stuck``       funded payments past the SLA (one grouped incident)
``withdrawal_stuck:<key>``  a withdrawal ``held`` or ``broadcast`` too long
``rate_stale:<asset>``   no rate, or older than ``rate_max_age_seconds``
``rate_anomaly:<src>:<asset>``  a source value excluded (stale/jump/outlier)
``rate_source_error:<src>``     a rate source failed entirely
``asset_paused:<asset>`` a circuit breaker paused new quotes
``float_low:razorpayx``  the INR float below the minimum (shared with settlement)
``chain_lag:<chain>``    node unreachable, or our scanner too far behind it
``reconciliation_break:<category>``  open breaks in that category
``webhook_failing:razorpayx``  payouts final at RazorpayX, no webhook heard
``dagster_multiple_daemons:<type>``  two daemon ids beating for one type
``worker_silent:<loop>`` a warm worker loop that should run has not beaten
=======================  ===========================================

Fired directly by their producers rather than evaluated here:
``settled_deposit_reorged:<payment>`` (:mod:`wallet.chains.settled_reorgs`),
``payout_reversed:<payout>`` (:mod:`wallet.settlement.service`) and the venue
registry's "every venue disabled" (:mod:`wallet.exchanges.registry`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wallet.alerts.core import Alert, Severity
from wallet.alerts.monitor import Check
from wallet.observability import signals

C, W = Severity.CRITICAL, Severity.WARNING


# -- Dagster runs ---------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """A finished Dagster run, as the alert needs it."""

    run_id: str
    job_name: str
    status: str  # Dagster's DagsterRunStatus value: SUCCESS, FAILURE, CANCELED
    ended_at: float  # unix seconds

    @classmethod
    def from_record(cls, record: Any) -> RunOutcome:
        """From a Dagster ``RunRecord`` (duck-typed: no Dagster import here)."""
        run = record.dagster_run
        ended = record.end_time or record.update_timestamp.timestamp()
        return cls(run.run_id, run.job_name, run.status.value, float(ended))


def failed_runs(runs: Iterable[RunOutcome]) -> Check:
    """A job whose latest finished run failed; a later success resolves it."""
    latest: dict[str, RunOutcome] = {}
    for run in runs:
        if run.status not in {"SUCCESS", "FAILURE"}:
            continue
        seen = latest.get(run.job_name)
        if seen is None or run.ended_at >= seen.ended_at:
            latest[run.job_name] = run
    return Check(
        "run_failed",
        tuple(
            Alert(
                "run_failed",
                f"run_failed:{job}",
                C,
                f"Dagster job {job} failed (run {run.run_id})",
                {"job": job, "run_id": run.run_id},
            )
            for job, run in sorted(latest.items())
            if run.status == "FAILURE"
        ),
    )


# -- payments ------------------------------------------------------------------


def payments_stuck(session: Session, now: datetime, sla_seconds: int) -> Check:
    """Funded payments with no outcome within the SLA (RELIABILITY G4), grouped."""
    stuck = signals.stuck_payments(session, now, sla_seconds)
    if not stuck:
        return Check("payments_stuck")
    oldest = max(s.age_seconds for s in stuck)
    return Check(
        "payments_stuck",
        (
            Alert(
                "payments_stuck",
                "payments_stuck",
                C,
                f"{len(stuck)} funded payment(s) past the {sla_seconds} s SLA (oldest {oldest} s)",
                {
                    "count": len(stuck),
                    "sla_seconds": sla_seconds,
                    "payments": [
                        {"payment_id": s.payment_id, "status": s.status, "age": s.age_seconds}
                        for s in stuck[:20]
                    ],
                },
            ),
        ),
    )


# -- withdrawals -----------------------------------------------------------------


def withdrawals_stuck(
    session: Session, now: datetime, max_age_seconds: int, limit: int = 100
) -> Check:
    """Payers' withdrawals ``held`` or ``broadcast`` longer than ``max_age_seconds``.

    ``held`` counts from the request, or from an admin's release after a
    review; ``broadcast`` from when it was broadcast (``detail.broadcast_at``).
    A held one names why it waits (``error_code``: the node, the daily cap,
    keys, hot funds); one incident per withdrawal, resolved once it moves on.
    """
    from wallet.custody.models import Withdrawal, WithdrawalStatus
    from wallet.db.models.ops import AuditLog

    waiting = (WithdrawalStatus.HELD, WithdrawalStatus.BROADCAST)
    cutoff = now - timedelta(seconds=max_age_seconds)
    rows = session.execute(
        select(
            Withdrawal.id, Withdrawal.key, Withdrawal.status, Withdrawal.chain, Withdrawal.asset,
            Withdrawal.created_at, Withdrawal.error_code, Withdrawal.detail,
        )
        .where(Withdrawal.status.in_(waiting), Withdrawal.created_at < cutoff)
        .order_by(Withdrawal.created_at)
        .limit(limit)
    ).all()  # fmt: skip
    held_ids = [str(r.id) for r in rows if r.status is WithdrawalStatus.HELD]
    released = dict(
        session.execute(
            select(AuditLog.subject_id, func.max(AuditLog.at))
            .where(
                AuditLog.subject_type == "withdrawal",
                AuditLog.subject_id.in_(held_ids),
                AuditLog.action == "withdrawal.review_released",
            )
            .group_by(AuditLog.subject_id)
        ).all()
        if held_ids
        else []
    )
    alerts = []
    for r in rows:
        since = _aware(r.created_at)
        if r.status is WithdrawalStatus.BROADCAST and (r.detail or {}).get("broadcast_at"):
            since = _aware(datetime.fromisoformat(r.detail["broadcast_at"]))
        elif str(r.id) in released:
            since = _aware(released[str(r.id)])
        age = int((now - since).total_seconds())
        if age <= max_age_seconds:
            continue
        why = f" ({r.error_code})" if r.status is WithdrawalStatus.HELD and r.error_code else ""
        alerts.append(
            Alert(
                "withdrawal_stuck",
                f"withdrawal_stuck:{r.key}",
                C,
                f"withdrawal {r.key} ({r.asset} on {r.chain}) has been {r.status.value}{why} "
                f"for {age} s (limit {max_age_seconds} s); the payer's coins stay on hold",
                {
                    "key": r.key,
                    "status": r.status.value,
                    "chain": r.chain,
                    "asset": r.asset,
                    "age_seconds": age,
                    "limit_seconds": max_age_seconds,
                    "error_code": r.error_code,
                },
            )
        )
    return Check("withdrawal_stuck", tuple(alerts))


def workers_silent(
    beats: Mapping[str, datetime], expected: Sequence[str], now: datetime, max_age_seconds: int
) -> Check:
    """Loops of the warm worker that should run but have not beaten for ``max_age_seconds``.

    Payments still settle without it (Dagster's sensors are its safety net),
    tens of seconds later, so this is a warning, one incident per loop.
    """
    alerts = []
    for name in expected:
        at = beats.get(name)
        age = None if at is None else int((now - _aware(at)).total_seconds())
        if age is not None and age <= max_age_seconds:
            continue
        heard = "never" if age is None else f"{age} s ago"
        alerts.append(
            Alert(
                "worker_silent",
                f"worker_silent:{name}",
                W,
                f"{name} last beat {heard} (limit {max_age_seconds} s): is `taskforce "
                "settle-worker` running? Payments settle through Dagster's slower safety net",
                {"loop": name, "age_seconds": age, "limit_seconds": max_age_seconds},
            )
        )
    return Check("worker_silent", tuple(alerts))


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes; compare them as UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# -- rates ---------------------------------------------------------------------


def stale_rates(ages: Mapping[str, int | None], max_age_seconds: int) -> Check:
    """Assets with no cached rate or one older than the quote freshness limit."""
    alerts = []
    for asset, age in sorted(ages.items()):
        if age is not None and age <= max_age_seconds:
            continue
        why = "no rate at all" if age is None else f"{age} s old (limit {max_age_seconds} s)"
        alerts.append(
            Alert(
                "rate_stale",
                f"rate_stale:{asset}",
                C,
                f"the {asset} rate is stale: {why}; new {asset} quotes are refused",
                {"asset": asset, "age_seconds": age, "limit_seconds": max_age_seconds},
            )
        )
    return Check("rate_stale", tuple(alerts))


def rate_anomalies(snapshot: Any) -> Check:
    """Source values the last sync excluded (``RatesSnapshot.exclusions``)."""
    alerts = {}
    for ex in snapshot.exclusions:
        key = f"rate_anomaly:{ex.source}:{ex.asset}"
        alerts[key] = Alert(
            "rate_anomaly",
            key,
            W,
            f"{ex.source} {ex.asset} excluded from the median: {ex.reason}",
            {"source": ex.source, "asset": ex.asset, "reason": ex.reason, "detail": ex.detail},
        )
    return Check("rate_anomaly", tuple(alerts[k] for k in sorted(alerts)))


def rate_source_errors(snapshot: Any) -> Check:
    """Rate sources that failed entirely in the last sync (``source_errors``)."""
    return Check(
        "rate_source_error",
        tuple(
            Alert(
                "rate_source_error",
                f"rate_source_error:{source}",
                W,
                f"rate source {source} failed: {error}",
                {"source": source, "error": error},
            )
            for source, error in sorted(snapshot.source_errors.items())
        ),
    )


def paused_assets(pauses: Iterable[Mapping[str, Any]]) -> Check:
    """Assets a circuit breaker paused (``signals.open_pauses``); resume resolves."""
    return Check(
        "asset_paused",
        tuple(
            Alert(
                "asset_paused",
                f"asset_paused:{p['asset']}",
                W,
                f"new {p['asset']} quotes are paused: {p['reason']}",
                dict(p),
            )
            for p in sorted(pauses, key=lambda p: str(p["asset"]))
        ),
    )


# -- money ---------------------------------------------------------------------


def float_low(balance_paise: int | None, min_paise: int) -> Check | None:
    """The RazorpayX float below ``min_paise``; ``None`` when the balance is unknown."""
    if balance_paise is None:
        return None
    if balance_paise >= min_paise:
        return Check("float_low")
    return Check(
        "float_low",
        (
            Alert(
                "float_low",
                "float_low:razorpayx",
                C,
                f"the INR float is ₹{balance_paise / 100:,.2f}, below ₹{min_paise / 100:,.2f}: "
                "payouts will queue; top it up",
                {"balance_paise": balance_paise, "min_paise": min_paise},
            ),
        ),
    )


def reconciliation_breaks(open_breaks: Mapping[str, int]) -> Check:
    """Open reconciliation breaks per category (ledger vs chain, exchange, payouts)."""
    return Check(
        "reconciliation_break",
        tuple(
            Alert(
                "reconciliation_break",
                f"reconciliation_break:{category}",
                C,
                f"{count} open reconciliation break(s) in {category}",
                {"category": category, "count": count},
            )
            for category, count in sorted(open_breaks.items())
            if count > 0
        ),
    )


# -- chains --------------------------------------------------------------------


def chain_lag(
    heads: Mapping[str, int | None],
    cursors: Mapping[str, int],
    max_lag_blocks: Mapping[str, int],
) -> Check:
    """A chain node that does not answer, or our scanner too far behind its head."""
    alerts = []
    for chain, head in sorted(heads.items()):
        if head is None:
            why, data = "node unreachable", {"chain": chain, "reachable": False}
        elif chain in cursors and head - cursors[chain] > max_lag_blocks.get(chain, 10):
            lag = head - cursors[chain]
            why = f"scanner {lag} blocks behind the node (limit {max_lag_blocks.get(chain, 10)})"
            data = {"chain": chain, "reachable": True, "lag_blocks": lag, "head": head}
        else:
            continue
        alerts.append(
            Alert("chain_lag", f"chain_lag:{chain}", C, f"{chain}: {why}; deposits wait", data)
        )
    return Check("chain_lag", tuple(alerts))


# -- webhooks ------------------------------------------------------------------


def webhook_failing(
    session: Session, now: datetime, silence_seconds: int, lookback_seconds: int = 86_400
) -> Check:
    """RazorpayX stopped delivering: payouts turned final (we learned it by polling)
    more than ``silence_seconds`` ago with no webhook for them, and no webhook at all
    since. Razorpay disables a webhook after 24 h of failed deliveries, so silence
    is what a disabled or failing webhook looks like from our side."""
    from wallet.db.models.settlement import Payout, PayoutStatus
    from wallet.settlement.models import PayoutWebhookEvent

    final = [PayoutStatus.PROCESSED, PayoutStatus.REVERSED, PayoutStatus.FAILED,
             PayoutStatus.REJECTED, PayoutStatus.CANCELLED]  # fmt: skip
    quiet_since = now - timedelta(seconds=silence_seconds)
    heard = select(PayoutWebhookEvent.id).where(
        PayoutWebhookEvent.provider_payout_id == Payout.provider_payout_id
    )
    silent = session.scalar(
        select(func.count(Payout.id)).where(
            Payout.status.in_(final),
            Payout.provider_payout_id.is_not(None),
            Payout.updated_at >= now - timedelta(seconds=lookback_seconds),
            Payout.updated_at < quiet_since,
            ~heard.exists(),
        )
    )
    recent = session.scalar(
        select(func.count(PayoutWebhookEvent.id)).where(
            PayoutWebhookEvent.received_at >= quiet_since
        )
    )
    if not silent or recent:
        return Check("webhook_failing")
    return Check(
        "webhook_failing",
        (
            Alert(
                "webhook_failing",
                "webhook_failing:razorpayx",
                C,
                f"no RazorpayX webhook for {silent} final payout(s) in {silence_seconds} s: "
                "the webhook is failing or disabled at the provider (re-enable it in the "
                "dashboard); payouts are being tracked by polling meanwhile",
                {"silent_payouts": int(silent), "silence_seconds": silence_seconds},
            ),
        ),
    )


# -- Dagster daemons -----------------------------------------------------------


@dataclass(frozen=True)
class BeatSample:
    daemon_type: str
    daemon_id: str
    seen_at: float  # unix seconds of the heartbeat


def merge_beats(
    history: Sequence[BeatSample], beats: Iterable[Any], now: float, window_seconds: int
) -> list[BeatSample]:
    """Add the current heartbeats (``DaemonBeat``s) to the history, drop the old ones.

    Dagster keeps only the latest heartbeat per daemon type, so two daemons
    show up as the daemon id alternating between polls: the history makes
    that visible. Keep it in the sensor's cursor (:func:`beats_cursor`).
    """
    samples = {(s.daemon_type, s.daemon_id, s.seen_at): s for s in history}
    for beat in beats:
        if beat.daemon_id and beat.timestamp is not None:
            sample = BeatSample(beat.daemon_type, beat.daemon_id, float(beat.timestamp))
            samples[(sample.daemon_type, sample.daemon_id, sample.seen_at)] = sample
    return sorted(
        (s for s in samples.values() if now - s.seen_at <= window_seconds),
        key=lambda s: s.seen_at,
    )


def beats_cursor(samples: Sequence[BeatSample]) -> str:
    return json.dumps([[s.daemon_type, s.daemon_id, s.seen_at] for s in samples])


def beats_from_cursor(cursor: str | None) -> list[BeatSample]:
    if not cursor:
        return []
    return [BeatSample(t, i, float(at)) for t, i, at in json.loads(cursor)]


def multiple_daemons(samples: Sequence[BeatSample]) -> Check:
    """More than one daemon id beating for one daemon type within the window."""
    ids: dict[str, set[str]] = {}
    for s in samples:
        ids.setdefault(s.daemon_type, set()).add(s.daemon_id)
    return Check(
        "dagster_multiple_daemons",
        tuple(
            Alert(
                "dagster_multiple_daemons",
                f"dagster_multiple_daemons:{daemon_type}",
                C,
                f"{len(found)} Dagster {daemon_type} daemons are running at once: "
                "sensors and schedules may double-fire; stop all but one",
                {"daemon_type": daemon_type, "daemon_ids": sorted(found)},
            )
            for daemon_type, found in sorted(ids.items())
            if len(found) > 1
        ),
    )
