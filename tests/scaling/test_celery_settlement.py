"""Settlement on the Celery executor: two workers share runs; one is SIGKILLed mid-batch.

The real ``settlement_job`` (from ``pipelines/``) runs on
``taskforce.celery_location`` (same definitions, the Celery executor) over
the RabbitMQ broker on 127.0.0.1:5672, with dagster-postgres storage in a
fresh schema, the app database in another, and the RazorpayX and exchange
stand-ins. Six runs of three payments each are started at once; two
``dagster-celery`` workers take their steps. Once the first worker has
finished a step and paid a vendor in its second one, it is killed with
SIGKILL (whole process group). Its
late-acked task goes back to RabbitMQ and the other worker runs the step
again; the settlement's attempt rows and idempotency keys make that
harmless: every payment completes with exactly one payout at RazorpayX
and the ledger balances. Each worker's share is recorded from the Dagster
event log (the worker that ran each step) into ``worker_shares.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from taskforce.dagster_instance import render_instance_yaml
from taskforce.distributed import BROKER_ENV, executor_config, worker_argv, write_worker_config
from tests.conftest import DEFAULT_PG
from tests.settlement.conftest import rzp, venues
from tests.settlement.helpers import custodial_payment, deps_for, fresh_pg_schema
from wallet.config import Settings
from wallet.db.models import Payment
from wallet.db.session import make_engine, make_session_factory, normalise_url
from wallet.ledger import check_invariants
from wallet.payments.states import PaymentStatus

__all__ = ["rzp", "venues"]
pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "pyamqp://guest:guest@127.0.0.1:5672//")
RUNS, PER_RUN = 6, 3
WORKER_STEP_MARK = "in celery worker"  # dagster_celery's engine event when a worker starts a step


def _admin_url() -> str:
    return normalise_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))


@pytest.fixture
def dagster_storage_url() -> Iterator[str]:
    """An empty schema for dagster-postgres (psycopg2 URL, as the instance needs)."""
    admin_url = _admin_url()
    schema = f"dg_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    plain = admin_url.replace("postgresql+psycopg://", "postgresql+psycopg2://")
    try:
        yield f"{plain}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def app_db() -> Iterator[tuple[str, sessionmaker[Session]]]:
    with fresh_pg_schema(_admin_url()) as url:
        engine = make_engine(url, poolclass=NullPool)
        yield url, make_session_factory(engine)
        engine.dispose()


def _celery_app() -> Any:
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app

    config = executor_config(BROKER)
    return make_app(CeleryExecutor.for_cli(**config).app_args())


def _require_broker(app: Any) -> None:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        message = f"RabbitMQ unreachable at {BROKER}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip("LOUD NOTICE: " + message)


def _wait_until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _worker_of_each_step(instance: Any, run_ids: list[str]) -> dict[str, list[str]]:
    """Run id -> the Celery workers that started its step, in order (from the event log)."""
    out: dict[str, list[str]] = {}
    for run_id in run_ids:
        workers = []
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event is None or not event.is_engine_event:
                continue
            if WORKER_STEP_MARK not in (event.message or ""):
                continue
            metadata = event.engine_event_data.metadata
            workers.append(str(metadata["Celery worker"].value))
        out[run_id] = workers
    return out


def test_two_workers_share_settlement_and_survive_a_sigkill(
    tmp_path: Path,
    app_db: tuple[str, sessionmaker[Session]],
    dagster_storage_url: str,
    rzp: dict[str, Any],
    venues: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dagster as dg

    celery_app = _celery_app()
    _require_broker(celery_app)
    celery_app.control.purge()  # stale steps from an earlier, aborted run of this test

    db_url, factory = app_db
    payment_ids = [custodial_payment(factory) for _ in range(RUNS * PER_RUN)]
    chunks = [payment_ids[i : i + PER_RUN] for i in range(0, len(payment_ids), PER_RUN)]

    home = tmp_path / "dagster"
    home.mkdir()
    settings = Settings(dagster_storage_url=dagster_storage_url, var_dir=tmp_path / "var")
    (home / "dagster.yaml").write_text(render_instance_yaml(settings))
    env = {
        "DAGSTER_HOME": str(home),
        "DATABASE_URL": db_url,
        "VAR_DIR": str(tmp_path / "var"),
        "SANDBOX_ENDPOINTS_FILE": str(tmp_path / "no-endpoints.json"),
        "RAZORPAYX_URL": rzp["url"],
        "EXCHANGE_URL": venues["binance"]["url"],
        "INR_EXCHANGE_URL": venues["inr"]["url"],
        "COINBASE_URL": "",
        "SETTLEMENT_SELL_WINDOW_SECONDS": "1",
        BROKER_ENV: BROKER,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    config_yaml = write_worker_config(tmp_path / "celery.yaml", BROKER)
    tag = uuid.uuid4().hex[:6]
    names = [f"w1-{tag}", f"w2-{tag}"]
    workers: dict[str, subprocess.Popen[bytes]] = {}
    runs: list[subprocess.Popen[bytes]] = []
    for name in names:
        log = tmp_path / f"{name}.log"
        with log.open("ab") as out:
            workers[name] = subprocess.Popen(
                worker_argv(BIN, name, config_yaml),
                cwd=REPO,
                env={**os.environ, **env, "PATH": f"{BIN}:{os.environ['PATH']}"},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
    try:
        hostnames = _wait_until(
            lambda: _ready_workers(celery_app, names), 90, "both Celery workers to answer a ping"
        )
        victim = next(h for h in hostnames if h.startswith(names[0]))

        runs += [
            subprocess.Popen(
                [sys.executable, "-m", "tests.scaling.celery_run", *chunk],
                cwd=REPO,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=(tmp_path / f"run-{i}.log").open("wb"),
                start_new_session=True,
            )
            for i, chunk in enumerate(chunks)
        ]

        # Mid-batch: the victim runs a step and has paid at least one vendor of its run.
        instance = dg.DagsterInstance.from_config(str(home))
        deps = deps_for(factory, rzp, venues)
        # Its second step: the first one it finished shows it carried its share.
        victim_run = _wait_until(
            lambda: _nth_run_started_on(instance, victim, 2), 180, f"{victim}'s second step"
        )
        victim_ids = instance.get_run_by_id(victim_run).run_config["ops"]["settlements"]["config"][
            "payment_ids"
        ]
        # Kill it once a vendor of its step is paid; on a loaded machine the step may
        # still be before its payout after two minutes, and a kill there must be
        # survived just the same (the exactly-once assertions below do not change).
        with contextlib.suppress(AssertionError):
            _wait_until(
                lambda: any(deps.payouts.find_payouts(pid) for pid in victim_ids),
                120,
                f"{victim} to pay a vendor",
            )
        os.killpg(workers[names[0]].pid, signal.SIGKILL)
        workers[names[0]].wait(10)

        results = []
        for proc in runs:
            out, _ = proc.communicate(timeout=300)
            assert proc.returncode == 0, out
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        for proc in [*runs, *workers.values()]:
            _stop(proc)

    run_ids = [r["run_id"] for r in results]
    assert all(r["success"] for r in results), results

    # Exactly once, whatever the orchestrator repeated.
    with factory() as s:
        statuses = {pid: s.get_one(Payment, pid).status for pid in payment_ids}
        check_invariants(s)
    assert set(statuses.values()) == {PaymentStatus.COMPLETED}, statuses
    for pid in payment_ids:
        assert len(deps.payouts.find_payouts(pid)) == 1, f"{pid}: not exactly one payout"

    # Each worker's share, from the event log: the victim started at least the step it died
    # in, that step was started again elsewhere, and the survivor carried the rest.
    by_run = _worker_of_each_step(instance, run_ids)
    shares = Counter(w.split("@")[0] for workers_ in by_run.values() for w in workers_)
    (tmp_path / "worker_shares.json").write_text(json.dumps({"by_run": by_run, "shares": shares}))
    print("worker shares:", dict(shares), "by run:", by_run)  # noqa: T201 - the recorded shares
    assert shares[names[0]] >= 2 and shares[names[1]] >= 2
    # The step the victim died in was started again, on the survivor.
    assert by_run[victim_run][0] == victim
    assert by_run[victim_run][-1].startswith(names[1] + "@")
    assert len(by_run[victim_run]) == 2


def _ready_workers(app: Any, names: list[str]) -> list[str] | None:
    replies = app.control.inspect(timeout=1.0).ping() or {}
    found = [h for h in replies if any(h.startswith(n + "@") for n in names)]
    return found if len(found) == len(names) else None


def _nth_run_started_on(instance: Any, hostname: str, n: int) -> str | None:
    """The run of the ``n``-th step ``hostname`` started, once it has (from the event log)."""
    started = []
    for run in instance.get_runs():
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is None or not event.is_engine_event:
                continue
            if WORKER_STEP_MARK not in (event.message or ""):
                continue
            if event.engine_event_data.metadata["Celery worker"].value == hostname:
                started.append((record.timestamp, str(run.run_id)))
    started.sort()
    return started[n - 1][1] if len(started) >= n else None
