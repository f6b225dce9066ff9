"""Start the RazorpayX stand-in as a real subprocess for tests.

``start_razorpayx(tmp_path)`` returns ``(process, info)`` once
``/__sandbox/health`` is ok; ``stop_razorpayx(process)`` ends its process
group. Other suites (settlement, reconciliation) reuse these.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_razorpayx(
    tmp_path: Path,
    webhook_url: str | None = None,
    *,
    extra_args: list[str] | None = None,
    seed: int = 0,
    timeout_s: float = 20.0,
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Launch ``python -m sandbox.razorpayx`` on a free port and wait until healthy."""
    port = free_port()
    state = tmp_path / "razorpayx"
    state.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "sandbox.razorpayx",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state-dir",
        str(state),
        "--seed",
        str(seed),
        *(["--webhook-url", webhook_url] if webhook_url else []),
        *(extra_args or []),
    ]
    log_path = state / "razorpayx.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"razorpayx exited early:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(f"{url}/__sandbox/health", timeout=1.0, trust_env=False)
            if response.status_code == 200 and response.json().get("ok"):
                info: dict[str, Any] = response.json()["info"]
                return process, info
        time.sleep(0.05)
    stop_razorpayx(process)
    raise RuntimeError(f"razorpayx not healthy after {timeout_s}s")


def stop_razorpayx(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """SIGTERM the stand-in's process group, SIGKILL if it lingers, and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout_s)
