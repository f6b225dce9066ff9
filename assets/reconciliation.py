"""The daily reconciliation report (partitioned by calendar day in India)."""

import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.resources import (
    ExchangeResource,
    RazorpayXResource,
    ReportsResource,
    WalletDatabase,
    _engine,
    _settings,
)
from wallet.assets import Chain
from wallet.chains.base import ChainAdapter
from wallet.reconciliation import ReconReport, reconcile, snapshot
from wallet.reconciliation.balances import chains_in_use

IST = ZoneInfo("Asia/Kolkata")
# end_offset=1: today (IST) can be reconciled intraday, before the day closes.
daily_ist = dg.DailyPartitionsDefinition(
    start_date="2026-01-01", timezone="Asia/Kolkata", end_offset=1
)


def day_bounds(partition_key: str) -> tuple[datetime, datetime]:
    """The IST calendar day ``partition_key`` as a half-open UTC-aware interval."""
    start = datetime.fromisoformat(partition_key).replace(tzinfo=IST)
    return start, start + timedelta(days=1)


def chain_adapters(chains: set[str], log: logging.Logger) -> dict[str, ChainAdapter]:
    """Adapters for ``chains`` from settings; a chain that cannot be built is left out
    (and so reported as ``chain_unreachable``)."""
    from wallet.custody.service import build_adapter

    out: dict[str, ChainAdapter] = {}
    for chain in sorted(chains):
        try:
            out[chain] = build_adapter(Chain(chain), _settings())
        except Exception as exc:  # a misconfigured chain must not hide the others' breaks
            log.warning("no adapter for %s: %s", chain, type(exc).__name__)
    return out


def write_files(report: ReconReport, directory: Path, day: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / f"reconciliation-{day}.csv"
    html_path = directory / f"reconciliation-{day}.html"
    csv_path.write_text(report.csv())
    html_path.write_text(report.html())
    return csv_path, html_path


@dg.asset(group_name="reports", partitions_def=daily_ist, kinds={"python"})
def reconciliation_report(
    context: dg.AssetExecutionContext,
    db: WalletDatabase,
    razorpayx: RazorpayXResource,
    exchanges: ExchangeResource,
    reports: ReportsResource,
) -> dg.MaterializeResult:
    """Ledger vs chain, venues and RazorpayX for one IST day: every break is a row."""
    start, end = day_bounds(context.partition_key)
    venues = exchanges.clients()
    cold = dict(_settings().custody_cold_addresses or {})
    with razorpayx.client() as payouts, snapshot(_engine(db.url())) as session:
        adapters = chain_adapters(chains_in_use(session) | set(cold), context.log)
        try:
            report = reconcile(
                session,
                start,
                end,
                payouts=payouts,
                exchanges=venues,
                chains=adapters,
                extra_addresses={chain: [address] for chain, address in cold.items()},
                venue_balances=venues,
            )
        finally:
            for adapter in adapters.values():
                adapter.close()
    csv_path, html_path = write_files(report, reports.path(), context.partition_key)
    return dg.MaterializeResult(
        metadata={
            "breaks": len(report.breaks),
            "by_category": dg.MetadataValue.json(report.by_category()),
            "totals": dg.MetadataValue.json(report.totals),
            "report": dg.MetadataValue.md(report.markdown()),
            "csv": dg.MetadataValue.path(str(csv_path)),
            "html": dg.MetadataValue.path(str(html_path)),
        }
    )


@dg.asset_check(asset=reconciliation_report)
def reconciliation_clean(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """The day reconciled with zero breaks (G5)."""
    event = context.instance.get_latest_materialization_event(reconciliation_report.key)
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    breaks = meta.get("breaks")
    count = int(breaks.value) if breaks is not None else -1
    return dg.AssetCheckResult(passed=count == 0, metadata={"breaks": count})
