"""Start the UTXO stand-in as a real subprocess for tests (and tear it down)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from sandbox.testing import free_port, start_standin, stop_standin


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
    state = tmp_path / f"utxo-{network}-{free_port()}"
    args = ["--network", network, *(extra_args or [])]
    return start_standin("sandbox.utxo", state, args=args, seed=seed, timeout_s=timeout)


def stop_utxo(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    stop_standin(proc, 10.0)
