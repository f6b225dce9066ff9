"""Start the exchange stand-in as a real subprocess for tests.

``start_exchange(tmp_path, venue="binance")`` returns ``(process, info)`` once
``/__sandbox/health`` is ok (``info`` as in ``taskforce sandbox status``:
url, credentials, settings); ``stop_exchange(process)`` ends its process
group. Rates, settlement and reconciliation suites reuse these.
``signed_request`` sends one raw Binance SIGNED request (no client library),
for tests that need exact control: stale timestamps, repeated client ids.
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from sandbox.testing import start_standin, stop_standin


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
    args = ["--venue", venue, "--tick-seconds", str(tick_seconds), *(extra_args or [])]
    return start_standin(
        "sandbox.exchange", tmp_path / f"exchange-{venue}", args=args, seed=seed,
        timeout_s=timeout_s,
    )  # fmt: skip


def stop_exchange(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """SIGTERM the stand-in's process group, SIGKILL if it lingers, and reap it."""
    stop_standin(process, timeout_s)


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
