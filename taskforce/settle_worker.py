"""``taskforce settle-worker``: the warm settlement worker (:mod:`wallet.settlement.worker`).

Builds its settlement clients from the same resources as the Dagster code
location (``pipelines.resources.resources``, without building the code
location's definitions), reading secrets from the
environment as plain values, and pays confirmed payments until SIGTERM or
SIGINT.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from wallet.settlement.service import SettlementDeps


def _env(name: str) -> str:
    return os.environ.get(name, "")


def _env_int(name: str) -> int:
    return int(os.environ.get(name) or 0)


def settings_deps() -> SettlementDeps:
    """Settlement's clients as the code location builds them, outside Dagster."""
    from pipelines.resources import resources, settlement_deps

    found: dict[str, Any] = resources(secret=_env, number=_env_int)
    return settlement_deps(
        found["db"], found["razorpayx"], found["exchanges"], found["alerts"], found["settlement"]
    )


def main() -> int:
    from wallet.observability.logs import configure_logging
    from wallet.settlement.worker import run_worker

    configure_logging()
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    logging.getLogger(__name__).info("settlement worker started")
    run_worker(settings_deps, stop)
    return 0
