"""The monitoring sensor (issue 10) with build_sensor_context: real JSON-RPC heads over
loopback, scan cursors, reconciliation metadata and daemon heartbeats on a real
(ephemeral) Dagster instance become incidents that open once and resolve by themselves."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._daemon.types import DaemonHeartbeat
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

import pipelines.resources
from pipelines.resources import WalletDatabase
from sensors.monitoring import monitoring_sensor
from tests.webapp.conftest import settings_for
from wallet.alerts import conditions
from wallet.alerts.models import AlertIncident, IncidentStatus
from wallet.chains.models import ScanCursor
from wallet.db.session import transaction

HEAD = 100


@pytest.fixture
def rpc() -> Iterator[str]:
    """One node answering every chain's head call with height ``HEAD``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            result: Any = hex(HEAD) if body["method"] == "eth_blockNumber" else HEAD
            data = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _use_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, rpc: str, **overrides: Any
) -> Any:
    """Settings with every chain's node at ``rpc`` (unless overridden), used by the sensor."""
    chains = {f"{c}_rpc_url": rpc for c in ("eth", "sol", "btc", "doge")}
    settings = settings_for(
        tmp_path, url, alert_quiet_seconds=0, readiness_timeout_seconds=1.0,
        **{**chains, **overrides},
    )  # fmt: skip
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: settings)
    return settings


def _open(factory: sessionmaker[Session]) -> set[str]:
    with factory() as session:
        return set(
            session.scalars(
                select(AlertIncident.key).where(AlertIncident.status == IncidentStatus.OPEN)
            )
        )


def test_conditions_open_once_and_resolve(
    app_db: tuple[str, sessionmaker[Session]],
    rpc: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, factory = app_db
    # Nothing listens on port 9: the dogecoin node is unreachable.
    _use_settings(monkeypatch, tmp_path, url, rpc, doge_rpc_url="http://127.0.0.1:9")
    with transaction(factory) as session:
        session.add(ScanCursor(name="ethereum", height=HEAD - 50, block_hash="00" * 32))
        session.add(ScanCursor(name="bitcoin", height=HEAD - 1, block_hash="00" * 32))
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "reconciliation_report",
            partition="2026-11-27",
            metadata={"by_category": dg.MetadataValue.json({"payouts": 2, "chain": 0})},
        )
    )
    # This daemon beats now; the cursor remembers another id beating a minute ago.
    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "SENSOR", "daemon-a"))
    earlier = conditions.beats_cursor(
        [conditions.BeatSample("SENSOR", "daemon-b", time.time() - 60)]
    )
    db = WalletDatabase(database_url=url)

    def tick(cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"db": db})
        result = monitoring_sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    first = tick(earlier)
    assert _open(factory) == {
        "chain_lag:ethereum",
        "chain_lag:dogecoin",
        "reconciliation_break:payouts",
        "dagster_multiple_daemons:SENSOR",
    }
    assert first.skip_reason.skip_message.startswith("opened 4,")
    assert {s.daemon_id for s in conditions.beats_from_cursor(first.cursor)} == {
        "daemon-a",
        "daemon-b",
    }

    # Same facts: nothing new opens (one notification per incident, not per tick).
    assert tick(first.cursor).skip_reason.skip_message.startswith("opened 0, open 4,")

    # The scanner catches up and the second daemon's beats age out of the window.
    with transaction(factory) as session:
        session.execute(update(ScanCursor).where(ScanCursor.name == "ethereum").values(height=HEAD))
    only_a = conditions.beats_cursor(
        [s for s in conditions.beats_from_cursor(first.cursor) if s.daemon_id == "daemon-a"]
    )
    third = tick(only_a)
    assert "resolved 2" in third.skip_reason.skip_message
    assert _open(factory) == {"chain_lag:dogecoin", "reconciliation_break:payouts"}


def test_a_silent_warm_worker_alerts_and_its_beats_resolve_it(
    app_db: tuple[str, sessionmaker[Session]],
    rpc: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wallet.db.base import utcnow
    from wallet.db.models import WorkerHeartbeat
    from wallet.observability.heartbeats import WARM_LOOPS, beat

    url, factory = app_db
    settings = _use_settings(monkeypatch, tmp_path, url, rpc, settlement_worker=True)
    instance = dg.DagsterInstance.ephemeral()
    db = WalletDatabase(database_url=url)

    def tick() -> None:
        context = dg.build_sensor_context(instance=instance, resources={"db": db})
        assert isinstance(monitoring_sensor(context), dg.SensorResult)

    def workers() -> set[str]:
        return {k for k in _open(factory) if k.startswith("worker_silent:")}

    tick()  # the worker should run (settlement_worker) but has never beaten
    assert workers() == {f"worker_silent:{loop}" for loop in WARM_LOOPS}
    assert len(WARM_LOOPS) == 3  # pay and sell, the chain watcher, the order books
    for loop in WARM_LOOPS[:-1]:
        beat(factory, loop, utcnow())
    tick()
    assert workers() == {f"worker_silent:{WARM_LOOPS[-1]}"}  # each loop on its own
    beat(factory, WARM_LOOPS[-1], utcnow())
    tick()
    assert workers() == set()
    # Without the setting nothing is expected to beat: no incident, whatever the table says.
    without = settings.model_copy(update={"settlement_worker": False})
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: without)
    with transaction(factory) as session:
        session.execute(delete(WorkerHeartbeat))
    tick()
    assert workers() == set()
