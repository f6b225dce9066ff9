"""Start the exchange stand-in as a real subprocess for tests.

``start_exchange(tmp_path, venue="binance")`` returns ``(process, info)`` once
``/__sandbox/health`` is ok (``info`` as in ``taskforce sandbox status``:
url, credentials, settings); ``stop_exchange(process)`` ends its process
group. Rates, settlement and reconciliation suites reuse these.
``signed_request`` sends one raw Binance SIGNED request (no client library),
for tests that need exact control: stale timestamps, repeated client ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_exchange(
    tmp_path: Path,
    venue: str = "binance",
    *,
    seed: int = 0,
    tick_seconds: float = 1.0,
    extra_args: list[str] | None = None,
    timeout_s: float = 20.0,
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Launch ``python -m sandbox.exchange --venue VENUE`` on a free port; wait until healthy."""
    port = free_port()
    state = tmp_path / f"exchange-{venue}"
    state.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "sandbox.exchange",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state-dir",
        str(state),
        "--seed",
        str(seed),
        "--venue",
        venue,
        "--tick-seconds",
        str(tick_seconds),
        *(extra_args or []),
    ]
    log_path = state / "exchange.log"
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
            raise RuntimeError(f"exchange exited early:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(f"{url}/__sandbox/health", timeout=1.0, trust_env=False)
            if response.status_code == 200 and response.json().get("ok"):
                info: dict[str, Any] = response.json()["info"]
                return process, info
        time.sleep(0.05)
    stop_exchange(process)
    raise RuntimeError(f"exchange ({venue}) not healthy after {timeout_s}s")


def stop_exchange(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
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


def signed_request(
    info: dict[str, Any],
    method: str,
    path: str,
    params: dict[str, Any],
    *,
    timestamp_ms: int | None = None,
    secret: str | None = None,
    api_key: str | None = None,
) -> httpx.Response:
    """One Binance SIGNED request: HMAC-SHA256 of the exact query/body sent.

    GET and DELETE carry everything in the query string; POST sends a form
    body, as Binance's documentation examples do.
    """
    creds = info["credentials"]
    payload = {
        **params,
        "recvWindow": params.get("recvWindow", 5000),
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
    }
    text = urlencode(payload)
    key = (secret or creds["api_secret"]).encode()
    signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    headers = {"X-MBX-APIKEY": api_key or creds["api_key"]}
    signed = f"{text}&signature={signature}"
    url = f"{info['url']}{path}"
    if method in ("GET", "DELETE"):
        return httpx.request(method, f"{url}?{signed}", headers=headers, trust_env=False)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return httpx.request(method, url, content=signed, headers=headers, trust_env=False)
