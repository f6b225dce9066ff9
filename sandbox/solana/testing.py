"""Start the Solana stand-in as a real subprocess for tests (``start_solana`` / ``stop_solana``)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from sandbox.testing import start_standin, stop_standin


def start_solana(
    tmp_path: Path, *, seed: int = 0, timeout: float = 30.0, **flags: Any
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Launch ``python -m sandbox.solana`` on a free port and wait until healthy.

    ``flags`` map to CLI options (``slot_ms=100`` → ``--slot-ms 100``). Returns
    the process (its own process group) and the health ``info`` dict (url,
    tokens, settings, faucet). Always pair with :func:`stop_solana`.
    """
    args: list[str] = []
    for key, value in flags.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return start_standin(
        "sandbox.solana", Path(tmp_path) / "solana", args=args, seed=seed, timeout_s=timeout
    )


def stop_solana(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the stand-in's process group, escalating to SIGKILL; leaves nothing behind."""
    stop_standin(proc, 5.0)
