"""Readiness pieces that need no sandbox, and the admin page's system signals."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
from dagster._daemon.types import DaemonHeartbeat

from tests.observability.support import settings_for, sqlite_db
from tests.settlement.helpers import custodial_payment
from wallet.alerts.core import Alert, Severity
from wallet.alerts.monitor import Check, Monitor
from wallet.health import InstanceHeartbeats, dagster_check, is_ready, readiness, system_signals


def test_dagster_heartbeat_fresh_stale_and_unknown(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.local_temp(str(tmp_path))  # a real instance: daemons required
    source = InstanceHeartbeats(instance)
    required = instance.get_required_daemon_types()
    never = dagster_check(source, 120)
    assert never.ok is False and "SENSOR" in never.detail  # nothing ever beat
    now = time.time()
    for daemon_type in required:
        instance.add_daemon_heartbeat(DaemonHeartbeat(now - 10, daemon_type, "d1", errors=[]))
    fresh = dagster_check(source, 120, now=now)
    assert fresh.ok is True, fresh
    stale = dagster_check(source, 120, now=now + 300)
    assert stale.ok is False and "SENSOR" in stale.detail
    unknown = dagster_check(None, 120)
    assert unknown.ok is None and unknown.detail.startswith("unknown")


def test_everything_down_is_not_ready_but_dagster_alone_never_blocks(tmp_path: Path) -> None:
    url, _ = sqlite_db(tmp_path)
    settings = settings_for(tmp_path, url, readiness_timeout_seconds=1.0)
    result = readiness(settings)
    assert result["database"]["ok"] is True
    assert result["cache"]["ok"] is None  # no Redis configured: not a failure
    for name in ("ethereum", "solana", "bitcoin", "dogecoin", "exchange", "payout_gateway"):
        assert result[name]["ok"] is False, name
    assert not is_ready(result)
    only_db = readiness(settings, components=("database", "dagster"))
    assert set(only_db) == {"database", "dagster"} and is_ready(only_db)
    assert only_db["dagster"]["critical"] is False


def test_system_signals_for_the_admin_page(tmp_path: Path) -> None:
    url, factory = sqlite_db(tmp_path)
    custodial_payment(factory)
    Monitor.in_database(factory, []).evaluate(
        Check("chain_lag", (Alert("chain_lag", "chain_lag:solana", Severity.CRITICAL, "down"),))
    )
    settings = settings_for(tmp_path, url, readiness_timeout_seconds=1.0)
    out = system_signals(settings, factory)
    assert out["ready"] is False
    assert sum(out["payments_by_status"].values()) == 1
    assert out["stuck_payments"] == []
    assert out["webhook_backlog"]["counts"]["pending"] == 0
    assert out["float"]["ledger_paise"] == 0 and out["float"]["gateway_paise"] is None
    assert [i["key"] for i in out["open_incidents"]] == ["chain_lag:solana"]
    assert out["rates_age_seconds"]["BTC"] is None  # never synced
    assert out["components"]["database"]["ok"] is True
    assert "error" not in out
