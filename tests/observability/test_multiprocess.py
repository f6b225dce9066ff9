"""Under gunicorn (PROMETHEUS_MULTIPROC_DIR), /metrics merges every worker's samples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OBSERVE = """
from wallet.observability.metrics import api_metrics
api_metrics().observe("GET", "/api/v1/payments", 200, 0.02)
api_metrics().observe("GET", "/api/v1/payments", 500, 0.3)
"""
RENDER = """
import sys
from wallet.observability.metrics import render
sys.stdout.write(render()[0].decode())
"""


def run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parents[2], check=True,
    )  # fmt: skip
    return done.stdout


def test_two_workers_samples_are_merged(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run(OBSERVE, env)  # worker 1
    run(OBSERVE, env)  # worker 2
    text = run(RENDER, env)  # a third process answers the scrape
    ok = 'taskforce_http_requests_total{endpoint="/api/v1/payments",method="GET",status="200"}'
    err = 'taskforce_http_requests_total{endpoint="/api/v1/payments",method="GET",status="500"}'
    assert f"{ok} 2.0" in text
    assert f"{err} 2.0" in text
    assert "taskforce_http_request_duration_seconds_count" in text
