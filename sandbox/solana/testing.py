"""Start the Solana stand-in as a real subprocess for tests (``start_solana`` / ``stop_solana``)."""

from __future__ import annotations

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


def _health(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/__sandbox/health", timeout=1) as response:  # noqa: S310 - loopback http
            body: dict[str, Any] = json.load(response)
            return body
    except OSError:
        return None


def start_solana(
    tmp_path: Path, *, seed: int = 0, timeout: float = 30.0, **flags: Any
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Launch ``python -m sandbox.solana`` on a free port and wait until healthy.

    ``flags`` map to CLI options (``slot_ms=100`` → ``--slot-ms 100``). Returns
    the process (its own process group) and the health ``info`` dict (url,
    tokens, settings, faucet). Always pair with :func:`stop_solana`.
    """
    port = free_port()
    state_dir = Path(tmp_path) / "solana"
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "sandbox.solana", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--state-dir", str(state_dir), "--seed", str(seed)]
    for key, value in flags.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    log = (state_dir / "solana.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
        argv, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"solana stand-in exited early; see {state_dir / 'solana.log'}")
        health = _health(url)
        if health and health.get("ok"):
            return proc, health["info"]
        time.sleep(0.1)
    stop_solana(proc)
    raise TimeoutError(f"solana stand-in not healthy within {timeout}s")


def stop_solana(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the stand-in's process group, escalating to SIGKILL; leaves nothing behind."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.wait(timeout=5)
