"""``taskforce run``: the whole platform on one machine, in the foreground.

Starts the sandbox (unless told not to), applies migrations, seeds the demo
accounts, then runs the Flask app under gunicorn, the Dagster code location
as its own gRPC server, ``dagster dev`` (webserver + daemon) and the warm
worker, each in its own process group so Ctrl-C or SIGTERM stops everything
and leaves no orphans.

The code location is served as ``deploy/`` serves it (``dagster api grpc``)
and ``dagster dev`` reads a workspace naming that server. Given the repo's
``workspace.yaml`` instead, ``dagster dev`` would put a proxy process in
front of the code (so the UI's "Reload" can restart it): about 1.4 % of a
core, idle, and 70 MiB, for a reload ``make run`` does not need, since
nothing else in it reloads code either (restart it after a change).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
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


LOCATION = "pipelines.definitions"  # the code location's name, as in workspace.yaml


def _code_server_argv(bin_dir: Path, host: str, port: int) -> list[str]:
    """The code location's gRPC server, as deploy/Dockerfile.dagster runs it."""
    return [
        str(bin_dir / "dagster"),
        "api",
        "grpc",
        "-m",
        LOCATION,
        "-d",
        str(ROOT),
        "-h",
        host,
        "-p",
        str(port),
        "--location-name",
        LOCATION,
        "--log-level",
        "warning",
    ]


def _write_workspace(home: Path, host: str, port: int) -> Path:
    """A workspace for ``dagster dev`` naming the already running code server."""
    path = home / "workspace.yaml"
    path.write_text(
        "load_from:\n"
        "  - grpc_server:\n"
        f"      host: {host}\n"
        f"      port: {port}\n"
        f"      location_name: {LOCATION}\n"
    )
    return path


def _wait_listening(
    proc: subprocess.Popen[bytes], host: str, port: int, log: Path, timeout: float = 300.0
) -> None:
    """Until the code server accepts connections: it binds its port once the code loaded."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the Dagster code server exited; see {log}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Dagster code server did not start in {timeout:.0f} s")
        time.sleep(0.2)


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
    from sandbox.manager import Sandbox, free_port
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
        code_host, code_port = "127.0.0.1", free_port()
        code_server = _spawn(
            _code_server_argv(bin_dir, code_host, code_port), logs / "dagster-code.log", env
        )
        processes.append(code_server)
        web = f"{settings.web_host}:{settings.web_port}"
        processes.append(
            _spawn(
                [str(bin_dir / "gunicorn"), "-w", "2", "-b", web, "webapp:create_app()"],
                logs / "web.log",
                env,
            )
        )
        _wait_listening(code_server, code_host, code_port, logs / "dagster-code.log")
        processes.append(
            _spawn(
                [
                    str(bin_dir / "dagster"),
                    "dev",
                    "-w",
                    str(_write_workspace(home, code_host, code_port)),
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
