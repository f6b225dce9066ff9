"""Chain confirmations: observations turned into payment progress, per chain."""

import importlib
from collections.abc import Callable
from typing import Any

import dagster as dg

from pipelines.resources import WalletDatabase


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
    context: dg.AssetExecutionContext, config: ChainConfig, db: WalletDatabase
) -> dg.MaterializeResult:
    """Payments moved on by what the chain shows: detected, confirmed, reorged, failed, expired.

    Launched by a chain sensor only when a scan found something (or a
    reorg). Deposits are credited (or reversed) by custody's
    ``process_deposits``; moving external *payments* along is the chains
    layer's ``advance_payments`` once it lands. The scan ran in the sensor.
    """
    from pipelines.resources import _settings
    from wallet.assets import Chain
    from wallet.custody.deposits import process_deposits
    from wallet.custody.service import build_adapter, confirmation_policy

    factory = db.factory()
    adapter = build_adapter(Chain(config.chain), _settings())
    try:
        # Re-runnable: a deposit the sensor's tick already credited is skipped.
        deposits = process_deposits(factory, adapter, confirmation_policy(_settings()))
    finally:
        adapter.close()
    metadata: dict[str, Any] = {
        "chain": config.chain,
        "credited": len(deposits.credited),
        "pending": deposits.pending,
        "reversed": len(deposits.reversed),
        "refused": len(deposits.refused),
    }
    advance = confirmation_rules()
    if advance is None:
        context.log.warning("payment confirmation rules have not landed: payments not advanced")
    else:
        metadata["payments"] = str(advance(factory, config.chain))
    return dg.MaterializeResult(metadata=metadata)
