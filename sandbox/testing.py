"""Start one stand-in as a real subprocess for a test, and stop it without leftovers.

Every stand-in's own ``testing.py`` is a thin wrapper over :func:`start_standin`
and :func:`stop_standin`: launch ``python -m <module>`` on a free loopback port
in its own process group, wait for ``/__sandbox/health`` to say ok, and return
the process with the health ``info`` block.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from sandbox.manager import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def start_standin(
    module: str,
    state_dir: Path,
    *,
    args: Sequence[str] = (),
    seed: int = 0,
    timeout_s: float = 30.0,
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Launch ``python -m module`` on a free port; wait until healthy."""
    port = free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port),
        "--state-dir", str(state_dir), "--seed", str(seed), *args,
    ]  # fmt: skip
    log_path = state_dir / "stand-in.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            argv,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{module} exited early:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            response = httpx.get(f"{url}/__sandbox/health", timeout=1.0, trust_env=False)
            if response.status_code == 200 and response.json().get("ok"):
                info: dict[str, Any] = response.json()["info"]
                return process, info
        time.sleep(0.05)
    stop_standin(process)
    raise TimeoutError(f"{module} not healthy after {timeout_s}s:\n{log_path.read_text()[-3000:]}")


def stop_standin(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM the stand-in's process group, SIGKILL it if it lingers, and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout_s)
