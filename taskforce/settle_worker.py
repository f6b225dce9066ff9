"""``taskforce settle-worker``: the warm worker beside Dagster.

Three loops in one long-lived process, until SIGTERM or SIGINT:

- the settlement worker (:mod:`wallet.settlement.worker`) pays confirmed
  payments within a second;
- the chain watcher (:mod:`wallet.chains.watcher`) ticks every chain each
  second, so an external payment is confirmed soon after its confirming
  block (and the worker pays it);
- the order-book loop (:mod:`wallet.rates.book_loop`) refreshes the books
  quotes are sized over every 10 s.

With ``worker_pulse_dir`` set, every loop touches a pulse file there on
every pass and ``taskforce settle-worker --alive`` is the pod's liveness
probe.

All build their clients from the same resources as the Dagster code
location (``pipelines.resources.resources``, without building the code
location's definitions), reading secrets from the environment as plain
values. Dagster's sensors stay the safety net for each.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from wallet.config import Settings
from wallet.settlement.service import SettlementDeps

# Logged once every loop is running: what a harness waiting on the worker looks for.
STARTED = "settle-worker started: the settlement worker, the chain watcher, the order books"


def _env(name: str) -> str:
    return os.environ.get(name, "")


def _env_int(name: str) -> int:
    return int(os.environ.get(name) or 0)


@functools.cache
def _resources() -> dict[str, Any]:
    """Built once per process: the pay loop and the chain watcher share them."""
    from pipelines.resources import resources

    return resources(secret=_env, number=_env_int)


def settings_deps() -> SettlementDeps:
    """Settlement's clients as the code location builds them, outside Dagster."""
    from pipelines.resources import settlement_deps

    found = _resources()
    return settlement_deps(
        found["db"], found["razorpayx"], found["exchanges"], found["alerts"], found["settlement"]
    )


def watch_chains(stop: threading.Event, settings: Settings) -> None:
    """The chain watcher over every chain, with the code location's database and alerts."""
    from wallet.chains.watcher import WATCHED_CHAINS, run_watcher, settings_adapter

    found = _resources()
    db = found["db"]
    adapters = {chain: settings_adapter(chain, lambda: settings) for chain in WATCHED_CHAINS}
    run_watcher(
        db.factory(),
        adapters,
        settings,
        stop,
        alerts=found["alerts"].sink(db),
        pulse_dir=settings.worker_pulse_dir,
    )


def keep_books(stop: threading.Event, settings: Settings) -> None:
    """The order-book loop, with the code location's database, venues and alerts."""
    from assets.rates import refresh_books
    from wallet.rates.book_loop import run_book_loop

    found = _resources()
    db = found["db"]
    factory = db.factory()
    alerts = found["alerts"].sink(db)
    run_book_loop(
        lambda: refresh_books(factory, found["rates"], alerts) is not None,
        factory,
        stop,
        pulse_dir=settings.worker_pulse_dir,
    )


def alive(within_s: float) -> int:
    """The liveness probe: 0 when every loop pulsed within ``within_s``, else 1 (2: no dir)."""
    from wallet.config import load_settings
    from wallet.observability.heartbeats import WARM_LOOPS, stale_pulses

    directory = load_settings().worker_pulse_dir
    if directory is None:
        sys.stderr.write("WORKER_PULSE_DIR is not set: the worker leaves no pulse to check\n")
        return 2
    stale = stale_pulses(directory, WARM_LOOPS, within_s)
    for name, why in stale.items():
        sys.stderr.write(f"{name}: {why}\n")
    return 1 if stale else 0


def main() -> int:
    from wallet.config import load_settings
    from wallet.observability.logs import configure_logging
    from wallet.settlement.worker import run_worker

    configure_logging()
    settings = load_settings()  # read once for both loops
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    loops = [
        threading.Thread(target=watch_chains, args=(stop, settings), name="chain-watcher"),
        threading.Thread(target=keep_books, args=(stop, settings), name="order-books"),
    ]
    for loop in loops:
        loop.start()
    logging.getLogger(__name__).info(STARTED)
    try:
        run_worker(settings_deps, stop, pulse_dir=settings.worker_pulse_dir)
    finally:
        stop.set()
        for loop in loops:
            loop.join(30)
    return 0
