"""Assets materialised with dg.materialize against the stand-ins and a real database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from assets.analytics import merchant_daily_volume, payments_fact
from assets.reconciliation import reconciliation_report
from assets.settlement import ledger_balanced, settlements
from pipelines.resources import (
    AlertsResource,
    ExchangeResource,
    RazorpayXResource,
    ReportsResource,
    SettlementResource,
    WalletDatabase,
)
from tests.settlement.helpers import custodial_payment
from wallet.db.models import Payment
from wallet.db.session import transaction
from wallet.payments.states import PaymentStatus
from wallet.reconciliation.balances import book_venue_opening


def _resources(url: str, rzp: dict[str, Any], venues: dict[str, Any], tmp: Path) -> dict[str, Any]:
    creds = rzp["credentials"]
    b, i = venues["binance"], venues["inr"]
    return {
        "db": WalletDatabase(database_url=url),
        "razorpayx": RazorpayXResource(
            url=rzp["url"],
            key_id=creds["key_id"],
            key_secret=creds["key_secret"],
            account_number=creds["account_number"],
        ),
        "exchanges": ExchangeResource(
            binance_url=b["url"],
            binance_api_key=b["credentials"]["api_key"],
            binance_api_secret=b["credentials"]["api_secret"],
            inr_url=i["url"],
            inr_api_key=i["credentials"]["api_key"],
            inr_api_secret=i["credentials"]["api_secret"],
        ),
        "alerts": AlertsResource(),
        "settlement": SettlementResource(sell_window_seconds=1, payout_wait_seconds=15.0),
        "reports": ReportsResource(directory=str(tmp / "reports")),
    }


def test_settlement_then_analytics_then_reconciliation_flags_only_the_unbacked_deposit(
    app_db: tuple[str, sessionmaker[Session]],
    rzp: dict[str, Any],
    venues: dict[str, Any],
    tmp_path: Path,
) -> None:
    url, factory = app_db
    resources = _resources(url, rzp, venues, tmp_path)
    # The venues' inventory predates these books: open it, as at go-live.
    with transaction(factory) as session:
        for venue, client in resources["exchanges"].clients().items():
            book_venue_opening(session, venue, client)
    pid = custodial_payment(factory, vpa="shop.owner@okicici", name="Shop Owner")

    result = dg.materialize(
        [settlements, ledger_balanced, payments_fact, merchant_daily_volume],
        resources=resources,
        run_config={"ops": {"settlements": {"config": {"payment_ids": [pid]}}}},
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("ledger_balanced", True)]
    with factory() as s:
        assert s.get_one(Payment, pid).status is PaymentStatus.COMPLETED
        fact = s.execute(text("SELECT status, utr FROM analytics_payments_fact")).one()
        assert fact.status == "completed" and fact.utr
        volume = s.execute(
            text("SELECT payee_vpa, payments, inr_paise FROM analytics_merchant_daily_volume")
        ).one()
        assert tuple(volume) == ("shop.owner@okicici", 1, 50_000)

    key = datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat()
    report = dg.materialize([reconciliation_report], resources=resources, partition_key=key)
    [mat] = report.asset_materializations_for_node("reconciliation_report")
    # The helper funded the payer with a ledger-only deposit (no coins on any chain),
    # so the on-chain tie-out must flag exactly that and nothing else.
    assert mat.metadata["by_category"].value == {"onchain_balance_mismatch": 1}, mat.metadata[
        "report"
    ].value
    assert "`solana:SOL` | SOL | 10000000000 | 0" in mat.metadata["report"].value
    assert (tmp_path / "reports" / f"reconciliation-{key}.csv").is_file()
    assert "<table" in (tmp_path / "reports" / f"reconciliation-{key}.html").read_text()
