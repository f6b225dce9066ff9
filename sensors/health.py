"""Watchers that only raise or resolve alerts (no runs): rates age, stuck payments, float."""

import dagster as dg

from pipelines.resources import (
    AlertsResource,
    RazorpayXResource,
    SettlementResource,
    WalletDatabase,
    _settings,
)
from wallet.alerts import Alert, Severity
from wallet.alerts.core import SqlIncidents
from wallet.db.base import utcnow
from wallet.payouts.errors import PayoutError
from wallet.settlement.watch import stuck


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def rates_age_sensor(db: WalletDatabase, alerts: AlertsResource) -> dg.SkipReason:
    """An asset whose cached rate is older than allowed cannot be quoted: alert until fresh."""
    from wallet.rates.cache import make_rate_cache
    from wallet.rates.config import RatesConfig

    config = RatesConfig.from_settings(_settings())
    cache = make_rate_cache(config, db.factory())
    sink = alerts.sink(db)
    now = utcnow()
    stale = []
    for asset in config.assets:
        rate = cache.get_rate(asset)
        key = f"rate_stale:{asset}"
        if rate is None or (now - rate.observed_at).total_seconds() > config.rate_max_age_seconds:
            stale.append(asset)
            sink.fire(Alert("rate_stale", key, Severity.CRITICAL, f"no fresh {asset} rate", {}))
        else:
            sink.resolve(key)
    return dg.SkipReason(f"stale: {', '.join(stale) or 'none'}")


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def stuck_payments_sensor(
    db: WalletDatabase, alerts: AlertsResource, settlement: SettlementResource
) -> dg.SkipReason:
    """Funded payments past their SLA in any state (G4): one incident per payment."""
    factory = db.factory()
    sink = alerts.sink(db)
    with factory() as session:
        config = settlement.config()
        late = dict(
            stuck(
                session,
                utcnow(),
                config.payment_sla_seconds,
                unsold_sla_s=config.unsold_sla_seconds,
            )
        )
    for payment_id, status in late.items():
        sink.fire(
            Alert(
                "payment_stuck",
                f"payment_stuck:{payment_id}",
                Severity.WARNING,
                f"payment {payment_id} has been {status} beyond its SLA",
                {"payment_id": payment_id, "status": status},
            )
        )
    for incident in SqlIncidents(factory).open_incidents():
        if incident.kind == "payment_stuck" and incident.data.get("payment_id") not in late:
            sink.resolve(incident.key, "payment moved on")
    return dg.SkipReason(f"{len(late)} stuck")


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def float_low_sensor(
    db: WalletDatabase,
    alerts: AlertsResource,
    razorpayx: RazorpayXResource,
    settlement: SettlementResource,
) -> dg.SkipReason:
    """The RazorpayX balance under the minimum: payouts will queue, so say so early."""
    minimum = settlement.config().float_min_paise
    sink = alerts.sink(db)
    try:
        with razorpayx.client() as client:
            balance = client.get_balance_paise()
    except PayoutError as exc:
        return dg.SkipReason(f"balance unavailable: {exc.code}")
    if balance < minimum:
        sink.fire(
            Alert(
                "float_low",
                "float_low:razorpayx",
                Severity.CRITICAL,
                "the INR float is below its minimum",
                {"balance_paise": balance, "minimum_paise": minimum},
            )
        )
    else:
        sink.resolve("float_low:razorpayx", "float topped up")
    return dg.SkipReason(f"float {balance} paise (minimum {minimum})")


# Failed-run alerts are not urgent to the second: one tick a minute (the default is 30 s).
@dg.run_failure_sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def run_failure_alerts(
    context: dg.RunFailureSensorContext, db: WalletDatabase, alerts: AlertsResource
) -> None:
    """A failed run is an incident per job until a later run of it succeeds."""
    run = context.dagster_run
    alerts.sink(db).fire(
        Alert(
            "run_failed",
            f"run_failed:{run.job_name}",
            Severity.WARNING,
            f"{run.job_name} run {run.run_id} failed",
            {"run_id": run.run_id, "error": (context.failure_event.message or "")[:500]},
        )
    )
