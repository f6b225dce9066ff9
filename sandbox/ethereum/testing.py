"""Start the Ethereum stand-in as a real subprocess, for tests of any layer.

    proc, info = start_ethereum(tmp_path)
    try:
        w3 = Web3(Web3.HTTPProvider(info["url"]))
        ...
    finally:
        stop_ethereum(proc)

or ``with running_ethereum(tmp_path) as info: ...``. The process leads its own
session, so teardown signals the whole group (the stand-in and anvil).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandbox.ethereum.node import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def _health(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/__sandbox/health", timeout=2) as reply:  # noqa: S310 - loopback http
            return dict(json.loads(reply.read()))
    except (OSError, urllib.error.URLError, ValueError):
        return None


def start_ethereum(
    state_dir: Path,
    block_time: int | None = None,
    *,
    seed: int = 0,
    timeout_s: float = 60.0,
    attempts: int = 3,
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Launch ``python -m sandbox.ethereum`` on a free port; return it once healthy.

    ``block_time`` None keeps the stand-in's default (1 s interval mining); 0 is
    instant mining. ``info`` is the health ``info`` (url, tokens, settings, ...).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    last = "not started"
    for _ in range(attempts):  # a free port can be taken before the child binds it
        port = free_port()
        cmd = [
            sys.executable, "-m", "sandbox.ethereum",
            "--host", "127.0.0.1", "--port", str(port),
            "--state-dir", str(state_dir), "--seed", str(seed),
        ]  # fmt: skip
        if block_time is not None:
            cmd += ["--block-time", str(block_time)]
        log_path = state_dir / f"ethereum-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
                cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            health = _health(url)
            if health and health.get("ok") and health.get("name") == "ethereum":
                return proc, dict(health["info"])
            time.sleep(0.1)
        stop_ethereum(proc)
        last = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"ethereum stand-in did not become healthy:\n{last}")


def stop_ethereum(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process group (stand-in and anvil), SIGKILL it if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)
    # The stand-in reaps anvil on SIGTERM; anything left in the group is killed outright.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def running_ethereum(state_dir: Path, block_time: int | None = None) -> Iterator[dict[str, Any]]:
    """Context manager form of :func:`start_ethereum`; yields the health ``info``."""
    proc, info = start_ethereum(state_dir, block_time)
    try:
        yield info
    finally:
        stop_ethereum(proc)
