"""The compliance assets materialised with dg.materialize on a real SQLite database."""

from __future__ import annotations

import csv
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from assets.compliance import monthly_tds_report, sanctions_list
from pipelines.definitions import defs
from pipelines.resources import ReportsResource, WalletDatabase
from tests.settlement.helpers import custodial_payment
from wallet.compliance.models import SanctionsEntry, TdsRecord

IST = ZoneInfo("Asia/Kolkata")


def _resources(url: str, tmp: Path) -> dict[str, object]:
    return {
        "db": WalletDatabase(database_url=url),
        "reports": ReportsResource(directory=str(tmp / "reports")),
    }


def _active(factory: sessionmaker[Session]) -> set[str]:
    with factory() as s:
        return set(
            s.scalars(select(SanctionsEntry.value).where(SanctionsEntry.removed_at.is_(None)))
        )


def test_sanctions_list_loads_the_shipped_sample_by_default(
    app_db: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    url, factory = app_db
    result = dg.materialize([sanctions_list], resources=_resources(url, tmp_path))
    assert result.success
    assert "sanctioned.sample@fakebank" in _active(factory)
    (mat,) = result.asset_materializations_for_node("sanctions_list")
    assert mat.metadata["added"].value == mat.metadata["active"].value > 0


def test_sanctions_list_follows_the_configured_file(
    app_db: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    url, factory = app_db
    listed = tmp_path / "list.csv"
    listed.write_text("type,chain,value,source,listed_at,note\nvpa,,bad.actor@bank,OFAC,,\n")
    run_config = {"ops": {"sanctions_list": {"config": {"csv_path": str(listed)}}}}
    result = dg.materialize(
        [sanctions_list], resources=_resources(url, tmp_path), run_config=run_config
    )
    assert result.success
    assert _active(factory) == {"bad.actor@bank"}


def test_a_malformed_list_fails_the_run_and_changes_nothing(
    app_db: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    url, factory = app_db
    assert dg.materialize([sanctions_list], resources=_resources(url, tmp_path)).success
    before = _active(factory)
    bad = tmp_path / "bad.csv"
    bad.write_text("type,chain,value,source,listed_at,note\nplanet,,mars,x,,\n")
    run_config = {"ops": {"sanctions_list": {"config": {"csv_path": str(bad)}}}}
    result = dg.materialize(
        [sanctions_list],
        resources=_resources(url, tmp_path),
        run_config=run_config,
        raise_on_error=False,
    )
    assert not result.success
    assert _active(factory) == before


def test_monthly_tds_report_writes_the_months_payers(
    app_db: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    url, factory = app_db
    pid = custodial_payment(factory, vpa="shop.owner@okicici", name="Shop Owner")
    with factory() as s:
        # Recorded by the payment flow when the custodial funds moved (below the threshold).
        tds = s.scalars(select(TdsRecord).where(TdsRecord.payment_id == pid)).one()
    month = tds.deducted_at.astimezone(IST).strftime("%Y-%m")
    result = dg.materialize(
        [monthly_tds_report], resources=_resources(url, tmp_path), partition_key=f"{month}-01"
    )
    assert result.success
    rows = list(csv.reader((tmp_path / "reports" / f"tds-{month}.csv").open()))
    assert rows[0][0] == "user_id"
    assert rows[1][0] == str(tds.user_id) and rows[1][3:] == ["1", "0", "500.00", "0.00"]
    assert rows[-1] == ["total", "", "", "1", "0", "500.00", "0.00"]
    empty = dg.materialize(
        [monthly_tds_report], resources=_resources(url, tmp_path), partition_key="2026-01-01"
    )
    (mat,) = empty.asset_materializations_for_node("monthly_tds_report")
    assert mat.metadata["payers"].value == 0


@pytest.mark.parametrize("key", ["sanctions_list", "monthly_tds_report"])
def test_the_assets_are_registered(key: str) -> None:
    assert defs.resolve_asset_graph().has(dg.AssetKey(key))
