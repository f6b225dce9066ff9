"""Settlement assets: vendors paid and crypto sold, and the checks that guard them."""

import json
from datetime import datetime

import dagster as dg
from pydantic import Field
from sqlalchemy import func, select

from pipelines.resources import (
    AlertsResource,
    ExchangeResource,
    RazorpayXResource,
    SettlementResource,
    WalletDatabase,
    settlement_deps,
)
from wallet.db.base import utcnow
from wallet.db.models.payments import Payment
from wallet.ledger import find_violations
from wallet.settlement.service import ready_payment_ids, settle_pass
from wallet.settlement.watch import stuck

SWEEP_LIMIT = 200  # payments one run settles besides its own (then the next run)
SETTLEMENT_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)


class SettleConfig(dg.Config):
    """Which payments to settle (empty: every ready payment) and whether to sell."""

    payment_ids: list[str] = Field(default_factory=list)
    sell: bool = True


@dg.asset(group_name="settlement", retry_policy=SETTLEMENT_RETRY, kinds={"python"})
def settlements(
    context: dg.AssetExecutionContext,
    config: SettleConfig,
    db: WalletDatabase,
    razorpayx: RazorpayXResource,
    exchanges: ExchangeResource,
    alerts: AlertsResource,
    settlement: SettlementResource,
) -> dg.MaterializeResult:
    """Confirmed payments paid out to the vendor's UPI and their crypto sold, booked."""
    deps = settlement_deps(db, razorpayx, exchanges, alerts, settlement)
    ids = config.payment_ids or None
    if ids is not None:
        # Also take whatever else is ready: when runs queue up (one per payment from
        # pay-now, one per batch from the sensor), the first to start pays them all
        # and the rest find nothing left to do, so a backlog drains at once.
        with db.factory()() as session:
            ids = list(dict.fromkeys([*ids, *ready_payment_ids(session, limit=SWEEP_LIMIT)]))
    report = settle_pass(deps, ids, sell=config.sell)
    if report.retry_later:
        # Ambiguous outside answers: the same keys are looked up on the retry (op retry policy).
        context.log.warning("retrying later: %s", report.retry_later)
        raise dg.Failure(
            description="outside services could not confirm every outcome",
            metadata={"retry_later": json.dumps(report.retry_later)},
            allow_retries=True,
        )
    return dg.MaterializeResult(
        metadata={
            "payments": len(report.statuses),
            "statuses": dg.MetadataValue.json(report.statuses),
            "batches_booked": len(report.batches_booked),
        }
    )


@dg.asset_check(asset=settlements, blocking=True)
def ledger_balanced(db: WalletDatabase) -> dg.AssetCheckResult:
    """Every entry sums to zero, caches match postings, nobody is overdrawn (G1, G2)."""
    with db.factory()() as session:
        problems = find_violations(session)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"violations": len(problems), "first": "\n".join(problems[:20])},
    )


@dg.asset_check(asset=settlements)
def no_payment_stuck(db: WalletDatabase, settlement: SettlementResource) -> dg.AssetCheckResult:
    """No funded payment has gone without an outcome past its SLA (G4)."""
    sla = settlement.config().payment_sla_seconds
    with db.factory()() as session:
        late = stuck(session, utcnow(), sla)
    return dg.AssetCheckResult(
        passed=not late,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"stuck": len(late), "payments": dg.MetadataValue.json(dict(late[:50]))},
    )


@dg.asset_check(asset=settlements)
def float_above_minimum(
    razorpayx: RazorpayXResource, settlement: SettlementResource
) -> dg.AssetCheckResult:
    """The RazorpayX float can pay vendors without queueing."""
    minimum = settlement.config().float_min_paise
    with razorpayx.client() as client:
        balance = client.get_balance_paise()
    return dg.AssetCheckResult(
        passed=balance >= minimum,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"balance_paise": balance, "minimum_paise": minimum},
    )


def payments_count(db: WalletDatabase, since: datetime) -> int:
    with db.factory()() as session:
        return int(
            session.scalar(select(func.count(Payment.id)).where(Payment.created_at >= since)) or 0
        )
