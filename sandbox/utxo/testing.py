"""Start the UTXO stand-in as a real subprocess for tests (and tear it down)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_utxo(
    tmp_path: Path,
    network: str = "bitcoin",
    *,
    seed: int = 7,
    extra_args: list[str] | None = None,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Launch ``python -m sandbox.utxo`` on a free port; return (process, health info).

    The process leads its own process group; pass it to :func:`stop_utxo`.
    """
    port = free_port()
    state = tmp_path / f"utxo-{network}-{port}"
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / "stand-in.log"
    cmd = [
        sys.executable, "-m", "sandbox.utxo",
        "--network", network, "--host", "127.0.0.1", "--port", str(port),
        "--state-dir", str(state), "--seed", str(seed), *(extra_args or []),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/__sandbox/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"utxo stand-in exited:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                health = json.loads(answer.read())
            if health.get("ok"):
                return proc, health["info"]
        except OSError:
            pass
        time.sleep(0.1)
    stop_utxo(proc)
    raise TimeoutError(
        f"utxo stand-in not healthy after {timeout}s:\n{log_path.read_text()[-3000:]}"
    )


def stop_utxo(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
