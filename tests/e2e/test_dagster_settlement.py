"""End to end with the real Dagster daemon: a custodial SOL payment, quote to completed.

``dagster dev`` (webserver + daemon) runs the code location from
``workspace.yaml`` in a temporary ``DAGSTER_HOME`` against a migrated
SQLite app database and the RazorpayX and exchange stand-ins. One payment
is submitted directly through the GraphQL client (the web app's "pay now"
path); another is left to the payments sensor (the safety net). Both must
end ``completed`` with exactly one payout each at RazorpayX.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from sandbox.testing import free_port
from taskforce.dagster_instance import render_instance_yaml
from tests.settlement.helpers import custodial_payment, deps_for
from wallet.config import Settings
from wallet.db.migrate import upgrade
from wallet.db.models import Payment
from wallet.db.session import make_engine, make_session_factory
from wallet.ledger import check_invariants
from wallet.payments.states import PaymentStatus

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _env(tmp: Path, db_url: str, rzp: dict[str, Any], venues: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "TASKFORCE_"))}
    env.update(
        DAGSTER_HOME=str(tmp / "dagster"),
        DATABASE_URL=db_url,
        VAR_DIR=str(tmp / "var"),
        SANDBOX_ENDPOINTS_FILE=str(tmp / "no-endpoints.json"),
        RAZORPAYX_URL=rzp["url"],
        EXCHANGE_URL=venues["binance"]["url"],
        INR_EXCHANGE_URL=venues["inr"]["url"],
        COINBASE_URL="",
        SETTLEMENT_SELL_WINDOW_SECONDS="1",
    )
    return env


def _wait_for(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dagster exited early while waiting for {what}")
        if predicate():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def dagster_dev(tmp: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Real ``dagster dev`` (webserver + daemon) on a free port; its process group is
    stopped afterwards, whatever happens."""
    home = Path(env["DAGSTER_HOME"])
    home.mkdir()
    (home / "dagster.yaml").write_text(render_instance_yaml(Settings(_env_file=None)))
    port = free_port()
    with (tmp / "dagster.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc, port
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _status(factory: sessionmaker[Session], pid: str) -> PaymentStatus:
    with factory() as s:
        return s.get_one(Payment, pid).status


def test_custodial_sol_payment_goes_from_quote_to_completed_under_the_daemon(
    tmp_path: Path, rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    env = _env(tmp_path, db_url, rzp, venues)
    with dagster_dev(tmp_path, env) as (proc, port):

        def graphql_up() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).is_success
            return False

        _wait_for(graphql_up, 120, "the Dagster webserver", proc)
        from pipelines.submit import submit_settlement_run

        direct = custodial_payment(factory, inr_paise=50_000)
        assert submit_settlement_run([direct], port=port, timeout_s=30)
        by_sensor = custodial_payment(factory, inr_paise=60_000)

        for pid in (direct, by_sensor):
            _wait_for(
                lambda pid=pid: _status(factory, pid) is PaymentStatus.COMPLETED,
                180,
                f"payment {pid} to complete",
                proc,
            )
        deps = deps_for(factory, rzp, venues)
        for pid in (direct, by_sensor):
            [payout] = deps.payouts.find_payouts(pid)
            assert payout.status.value == "processed" and payout.utr
        with factory() as s:
            check_invariants(s)
    engine.dispose()
