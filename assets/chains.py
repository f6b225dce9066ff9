"""Chain confirmations: observations turned into payment progress, per chain."""

import importlib
from collections.abc import Callable
from typing import Any

import dagster as dg

from pipelines.resources import AlertsResource, WalletDatabase


class ChainConfig(dg.Config):
    chain: str  # e.g. "ethereum"


def confirmation_rules() -> Callable[..., Any] | None:
    """The custody/chains layer's ``advance_payments(factory, chain)``, once it has landed."""
    try:
        module = importlib.import_module("wallet.chains.confirmations")
    except ImportError:
        return None
    rules: Callable[..., Any] | None = getattr(module, "advance_payments", None)
    return rules


@dg.asset(group_name="chains", kinds={"python"})
def chain_confirmations(
    context: dg.AssetExecutionContext,
    config: ChainConfig,
    db: WalletDatabase,
    alerts: AlertsResource,
) -> dg.MaterializeResult:
    """Payments moved on by what the chain shows: detected, confirmed, reorged, failed, expired.

    Launched by the chains sensor after a reorg (or by hand). Deposits are
    credited (or reversed) by custody's ``process_deposits``; external
    payments are moved along by ``advance_payments``; settled payments whose
    deposit the reorg removed raise a critical alert
    (:mod:`wallet.chains.settled_reorgs`). The scan ran in the sensor.
    """
    from pipelines.resources import _settings
    from wallet.assets import Chain
    from wallet.chains.settled_reorgs import alert_settled_deposits_gone
    from wallet.custody.deposits import process_deposits
    from wallet.custody.service import build_adapter, confirmation_policy

    factory = db.factory()
    adapter = build_adapter(Chain(config.chain), _settings())
    try:
        # Re-runnable: a deposit the sensor's tick already credited is skipped.
        deposits = process_deposits(factory, adapter, confirmation_policy(_settings()))
        gone = alert_settled_deposits_gone(factory, adapter, alerts.sink(db))
    finally:
        adapter.close()
    metadata: dict[str, Any] = {
        "chain": config.chain,
        "credited": len(deposits.credited),
        "pending": deposits.pending,
        "reversed": len(deposits.reversed),
        "refused": len(deposits.refused),
        "settled_deposits_gone": len(gone),
    }
    advance = confirmation_rules()
    if advance is None:
        context.log.warning("payment confirmation rules have not landed: payments not advanced")
    else:
        metadata["payments"] = str(advance(factory, config.chain))
    return dg.MaterializeResult(metadata=metadata)
