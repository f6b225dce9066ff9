"""Settlement on the Celery executor: a worker SIGKILLed mid-payout hands its step over.

The real ``settlement_job`` (from ``pipelines/``) runs on
``taskforce.celery_location`` (same definitions, the Celery executor) over
the RabbitMQ broker on 127.0.0.1:5672, with dagster-postgres storage in a
fresh schema, the app database in another, and the RazorpayX and exchange
stand-ins. Eighteen payments wait in six runs of three.

The first ``dagster-celery`` worker starts alone with a stall point
(``crash.STALL_ENV``): it takes the first run's step, which sweeps every
ready payment, and hangs right after its first RazorpayX payout call, with
the vendor paid and the answer not stored. A second worker joins, the other
five runs start, and the first worker is killed with SIGKILL (whole process
group). Waiting on the stall rather than on time puts the kill mid-step
however loaded the machine is; a step races to its end in well under a
second, so a timed kill mostly missed it. The late-acked task goes back to
RabbitMQ and the survivor runs the step again; the settlement's attempt rows
and idempotency keys make that harmless: every payment completes with
exactly one payout at RazorpayX and the ledger balances. Who ran each step
is read from the Dagster event log into ``worker_steps.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
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
from wallet.settlement.crash import STALL_DIR_ENV, STALL_ENV, STALLED_FILE

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


def _start_worker(
    tmp_path: Path, name: str, config_yaml: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    with (tmp_path / f"{name}.log").open("ab") as out:
        return subprocess.Popen(
            worker_argv(BIN, name, config_yaml),
            cwd=REPO,
            env={**os.environ, **env, "PATH": f"{BIN}:{os.environ['PATH']}"},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _start_run(tmp_path: Path, i: int, chunk: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scaling.celery_run", *chunk],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=(tmp_path / f"run-{i}.log").open("wb"),
        start_new_session=True,
    )


def test_a_worker_killed_mid_payout_hands_its_step_to_the_other_exactly_once(
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
    victim_name, survivor_name = f"w1-{tag}", f"w2-{tag}"
    stall_dir = tmp_path / "stall"
    workers: dict[str, subprocess.Popen[bytes]] = {}
    runs: list[subprocess.Popen[bytes]] = []
    try:
        # The victim, alone, takes the first run's step, which sweeps every ready payment,
        # and hangs right after its first payout call: RazorpayX has paid that vendor and
        # the answer is not stored.
        workers[victim_name] = _start_worker(
            tmp_path,
            victim_name,
            config_yaml,
            {**env, STALL_ENV: "after_payout_call:1", STALL_DIR_ENV: str(stall_dir)},
        )
        (victim,) = _wait_until(
            lambda: _ready_workers(celery_app, [victim_name]), 90, "the first worker to answer"
        )
        runs.append(_start_run(tmp_path, 0, chunks[0]))
        _wait_until((stall_dir / STALLED_FILE).exists, 180, f"{victim} to hang mid-payout")

        # The survivor joins, the other runs queue up behind the hung step, and the victim
        # dies without a word; its late-acked step goes back to RabbitMQ.
        workers[survivor_name] = _start_worker(tmp_path, survivor_name, config_yaml, env)
        _wait_until(
            lambda: _ready_workers(celery_app, [survivor_name]), 90, "the second worker to answer"
        )
        runs += [_start_run(tmp_path, i, chunk) for i, chunk in enumerate(chunks) if i > 0]
        os.killpg(workers[victim_name].pid, signal.SIGKILL)
        workers[victim_name].wait(10)

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
    deps = deps_for(factory, rzp, venues)
    with factory() as s:
        statuses = {pid: s.get_one(Payment, pid).status for pid in payment_ids}
        check_invariants(s)
    assert set(statuses.values()) == {PaymentStatus.COMPLETED}, statuses
    for pid in payment_ids:
        assert len(deps.payouts.find_payouts(pid)) == 1, f"{pid}: not exactly one payout"

    # Who ran what, from the event log: the hung step was started again on the survivor,
    # which ran every other step too.
    instance = dg.DagsterInstance.from_config(str(home))
    by_run = _worker_of_each_step(instance, run_ids)
    (tmp_path / "worker_steps.json").write_text(json.dumps(by_run))
    print("steps by run:", by_run)  # noqa: T201 - the record of who ran what
    assert by_run[run_ids[0]][0] == victim
    assert [w.split("@")[0] for w in by_run[run_ids[0]][1:]] == [survivor_name]
    for run_id in run_ids[1:]:
        assert [w.split("@")[0] for w in by_run[run_id]] == [survivor_name], by_run


def _ready_workers(app: Any, names: list[str]) -> list[str] | None:
    replies = app.control.inspect(timeout=1.0).ping() or {}
    found = [h for h in replies if any(h.startswith(n + "@") for n in names)]
    return found if len(found) == len(names) else None
