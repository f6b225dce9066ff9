"""Start the RazorpayX stand-in as a real subprocess for tests.

``start_razorpayx(tmp_path)`` returns ``(process, info)`` once
``/__sandbox/health`` is ok; ``stop_razorpayx(process)`` ends its process
group. Other suites (settlement, reconciliation) reuse these.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from sandbox.testing import start_standin, stop_standin


def start_razorpayx(
    tmp_path: Path,
    webhook_url: str | None = None,
    *,
    extra_args: list[str] | None = None,
    seed: int = 0,
    timeout_s: float = 20.0,
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Launch ``python -m sandbox.razorpayx`` on a free port and wait until healthy."""
    args = [*(["--webhook-url", webhook_url] if webhook_url else []), *(extra_args or [])]
    return start_standin(
        "sandbox.razorpayx", tmp_path / "razorpayx", args=args, seed=seed, timeout_s=timeout_s
    )


def stop_razorpayx(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """SIGTERM the stand-in's process group, SIGKILL if it lingers, and reap it."""
    stop_standin(process, timeout_s)
