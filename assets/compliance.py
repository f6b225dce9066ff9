"""Compliance assets (issue 9): the sanctions list and the monthly TDS report.

- ``sanctions_list``: loads the configured CSV (format documented in
  :mod:`wallet.compliance.sanctions`) into ``sanctions_entries``; screening
  reads that table. Default: the shipped sample, which is fake data for
  development; production points ``csv_path`` at the real export.
- ``monthly_tds_report``: Section 194S TDS per payer for one IST calendar
  month (monthly partitions), written as CSV for the Form 26Q return.
"""

import csv
import io
from pathlib import Path

import dagster as dg

from pipelines.resources import ReportsResource, WalletDatabase
from wallet.compliance.sanctions import refresh_sanctions_list
from wallet.compliance.tds import TdsReport
from wallet.compliance.tds import monthly_tds_report as build_tds_report
from wallet.db.base import utcnow
from wallet.db.session import transaction
from wallet.money import format_minor

SAMPLE_SANCTIONS_CSV = (
    Path(__file__).resolve().parents[1] / "wallet" / "compliance" / "data" / "sanctions_sample.csv"
)
# Returns are monthly: the partition is the IST month the payments were made in.
# end_offset=1: the running month can be previewed before it closes (re-run it after).
monthly_ist = dg.MonthlyPartitionsDefinition(
    start_date="2026-01-01", timezone="Asia/Kolkata", end_offset=1
)


class SanctionsConfig(dg.Config):
    """Where the list comes from; empty means the shipped (fake) sample."""

    csv_path: str = ""
    allow_empty: bool = False  # a truncated export must not delist everyone


@dg.asset(group_name="compliance", kinds={"python"})
def sanctions_list(
    context: dg.AssetExecutionContext, config: SanctionsConfig, db: WalletDatabase
) -> dg.MaterializeResult:
    """The active sanctions entries, equal to the configured CSV (a bad file changes nothing)."""
    path = Path(config.csv_path) if config.csv_path else SAMPLE_SANCTIONS_CSV
    with transaction(db.factory()) as session:
        report = refresh_sanctions_list(session, path, now=utcnow(), allow_empty=config.allow_empty)
    context.log.info("sanctions list %s: %s active", path.name, report.active)
    return dg.MaterializeResult(
        metadata={
            "source": dg.MetadataValue.path(str(path)),
            "sha256": report.sha256,
            "active": report.active,
            "added": report.added,
            "removed": report.removed,
            "updated": report.updated,
        }
    )


def tds_csv(report: TdsReport) -> str:
    """One row per payer (amounts in rupees with paise), then a total row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["user_id", "pan", "name", "payments", "deductions", "consideration_inr", "tds_inr"]
    )
    for r in report.rows:
        writer.writerow(
            [
                r.user_id,
                r.pan or "",
                r.name or "",
                r.payments,
                r.deductions,
                format_minor(r.consideration_paise, 2),
                format_minor(r.tds_paise, 2),
            ]
        )
    writer.writerow(
        [
            "total",
            "",
            "",
            sum(r.payments for r in report.rows),
            sum(r.deductions for r in report.rows),
            format_minor(report.total_consideration_paise, 2),
            format_minor(report.total_tds_paise, 2),
        ]
    )
    return out.getvalue()


@dg.asset(group_name="reports", partitions_def=monthly_ist, kinds={"python"})
def monthly_tds_report(
    context: dg.AssetExecutionContext, db: WalletDatabase, reports: ReportsResource
) -> dg.MaterializeResult:
    """Section 194S TDS of one IST month, per payer, with the deposit due date."""
    year, month = (int(p) for p in context.partition_key.split("-")[:2])
    with db.factory()() as session:
        report = build_tds_report(session, year, month)
    directory = reports.path()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"tds-{year:04d}-{month:02d}.csv"
    path.write_text(tds_csv(report))
    return dg.MaterializeResult(
        metadata={
            "payers": len(report.rows),
            "total_tds_inr": format_minor(report.total_tds_paise, 2),
            "total_consideration_inr": format_minor(report.total_consideration_paise, 2),
            "payers_without_pan": report.payers_without_pan,
            "financial_year": report.financial_year,
            "due_date": report.due_date.isoformat(),
            "csv": dg.MetadataValue.path(str(path)),
        }
    )
