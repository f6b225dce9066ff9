"""``taskforce run``: the whole platform on one machine, in the foreground.

Starts the sandbox (unless told not to), applies migrations, seeds the demo
accounts, then runs the Flask app under gunicorn and ``dagster dev``
(webserver + daemon), each in its own process group so Ctrl-C or SIGTERM
stops everything and leaves no orphans.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from wallet.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _restore_default_signals() -> None:
    # A child started from a backgrounded script inherits SIGINT=ignored, and
    # `dagster dev` then never stops; give children the default dispositions.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _spawn(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - fixed argv built from our own settings
            argv,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=_restore_default_signals,
        )


def _stop(processes: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    for proc in processes:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _write_dagster_yaml(settings: Settings) -> Path:
    from taskforce.dagster_instance import render_instance_yaml

    home = settings.resolved_dagster_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(render_instance_yaml(settings))
    return home


def _fresh_world(settings: Settings) -> None:
    """Drop the embedded app database and Dagster home.

    The sandbox chains keep their state in memory, so every `make run` starts
    a new world; balances and scan cursors from the last one would not match
    it. Only the embedded default is reset: a configured DATABASE_URL is kept.
    """
    if settings.database_url:
        return
    db = settings.var_dir / "taskforce.db"
    for path in (db, db.with_suffix(".db-wal"), db.with_suffix(".db-shm")):
        path.unlink(missing_ok=True)
    home = settings.resolved_dagster_home
    if home.is_dir():
        shutil.rmtree(home)


def _start_chain_cursors(settings: Settings) -> None:
    """Scan each chain once so its cursor sits at the head before demo funding."""
    from sensors.chains import CHAINS
    from wallet.custody.service import scan_chain
    from wallet.db.session import make_engine, make_session_factory

    engine = make_engine(settings.resolved_database_url)
    try:
        factory = make_session_factory(engine)
        for chain in CHAINS:
            scan_chain(factory, chain, settings)
    finally:
        engine.dispose()


def run_platform(settings: Settings, *, with_sandbox: bool = True, keep_data: bool = False) -> int:
    from sandbox.manager import Sandbox
    from taskforce.bootstrap import fund_demo_payer, init_custody, open_venue_inventory
    from taskforce.demo import DEMO_PAYER, seed_demo
    from wallet.db.migrate import upgrade

    out = sys.stdout
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    logs = settings.var_dir / "logs"
    sandbox: Sandbox | None = None
    processes: list[subprocess.Popen[bytes]] = []
    stopping = False

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        if with_sandbox:
            out.write("starting the sandbox (chains, exchanges, RazorpayX)…\n")
            out.flush()
            sandbox = Sandbox(settings.var_dir / "sandbox")
            Sandbox.attach(sandbox.state_dir).stop()  # a previous run's leftovers
            sandbox.start()
            settings = Settings()  # re-read: the sandbox published its endpoints
            if not keep_data:
                _fresh_world(settings)
            web_url = f"http://{settings.web_host}:{settings.web_port}"
            sandbox.admin("razorpayx", "webhooks", {"url": f"{web_url}/webhooks/razorpayx"})
        upgrade(settings.resolved_database_url)
        credentials = seed_demo(settings)
        init_custody(settings)
        home = _write_dagster_yaml(settings)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "SETTLEMENT_WORKER": "true",  # pay-now leaves confirmed payments to the worker
        }
        bin_dir = Path(sys.executable).parent
        web = f"{settings.web_host}:{settings.web_port}"
        processes.append(
            _spawn(
                [str(bin_dir / "gunicorn"), "-w", "2", "-b", web, "webapp:create_app()"],
                logs / "web.log",
                env,
            )
        )
        processes.append(
            _spawn(
                [
                    str(bin_dir / "dagster"),
                    "dev",
                    "-w",
                    str(ROOT / "workspace.yaml"),
                    "-h",
                    settings.web_host,
                    "-p",
                    str(settings.dagster_port),
                ],
                logs / "dagster.log",
                env,
            )
        )
        processes.append(
            _spawn([str(bin_dir / "taskforce"), "settle-worker"], logs / "settle-worker.log", env)
        )
        if sandbox is not None:
            open_venue_inventory(settings)
            _start_chain_cursors(settings)
            out.write("funding the demo payer on the sandbox chains…\n")
            for line in fund_demo_payer(settings, sandbox, DEMO_PAYER.email):
                out.write(f"  {line}\n")
            out.write("  (credited once each chain's confirmation rule holds)\n")
        out.write(
            "\nTaskForce Wallet is running.\n"
            f"  web app    http://{web}/\n"
            f"  Dagster UI http://{settings.web_host}:{settings.dagster_port}/\n"
            f"  logs       {logs}/\n"
        )
        for line in credentials:
            out.write(f"  {line}\n")
        out.write("Press Ctrl-C to stop.\n")
        out.flush()
        while not stopping:
            for proc in processes:
                if proc.poll() is not None:
                    out.write(f"a component exited ({proc.args!r}); stopping. See {logs}/\n")
                    stopping = True
            time.sleep(0.5)
        return 0
    finally:
        out.write("stopping…\n")
        out.flush()
        _stop(processes)
        if sandbox is not None:
            sandbox.stop()
        out.write("stopped.\n")
