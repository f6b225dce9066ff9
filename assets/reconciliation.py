"""The daily reconciliation report (partitioned by calendar day in India)."""

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
)
from wallet.reconciliation import ReconReport, reconcile, snapshot

IST = ZoneInfo("Asia/Kolkata")
# end_offset=1: today (IST) can be reconciled intraday, before the day closes.
daily_ist = dg.DailyPartitionsDefinition(
    start_date="2026-01-01", timezone="Asia/Kolkata", end_offset=1
)


def day_bounds(partition_key: str) -> tuple[datetime, datetime]:
    """The IST calendar day ``partition_key`` as a half-open UTC-aware interval."""
    start = datetime.fromisoformat(partition_key).replace(tzinfo=IST)
    return start, start + timedelta(days=1)


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
    with razorpayx.client() as payouts, snapshot(_engine(db.url())) as session:
        report = reconcile(session, start, end, payouts=payouts, exchanges=exchanges.clients())
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
