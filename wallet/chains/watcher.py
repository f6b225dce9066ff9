"""Chain ticks, and the warm watcher that runs them every second beside the settlement worker.

:func:`tick_chain` is one chain's tick (scan and credit with custody's
:func:`~wallet.custody.service.scan_chain`, then move external payments on
with :func:`~wallet.chains.confirmations.advance_payments`); the Dagster
chains sensor runs it and so does :func:`run_watcher`.

Why a watcher outside Dagster: a Dagster sensor tick costs a fresh
``DagsterInstance``, the daemon's bookkeeping and two gRPC hops, so the
chains sensor ticked every 5 s and in practice later (the daemon's sensor
threads are shared); an external payment waited 8-10 s from its confirming
block to the vendor's payout (bench (2)). The watcher lives in the warm
``taskforce settle-worker`` process with its chain clients open, so a tick
is a cursor read and one ``head`` call per chain (and each chain keeps its
:class:`~wallet.chains.watchlist.Watchlist`, so a scan reads only the
addresses added since the last); the worker's pay loop
picks up what it confirmed within :data:`wallet.settlement.worker.POLL_S`.
Chains nobody waits on are ticked every :data:`IDLE_WATCH_S` only: with
Ethereum and Solana producing blocks every second, a tick each second
scanned them for nothing (3-5 % of a core on this machine kind). Most of an
idle tick is fixed cost, not blocks: the deposit pass's query and its check
of every recent credit against the best chain, so a longer idle period
spends less on the same blocks. A chain whose deposit is short of its
confirmations is ticked again once its head reaches the height where the
deposit has them (one ``head`` call a second until then), not every second:
no tick before that height could credit it.
With it running (``settlement_worker`` in settings), the chains sensor
becomes the slower safety net (:data:`sensors.chains.SAFETY_NET_INTERVAL_S`).

Both may scan at once: the scan cursor is taken under its row lock and a
step whose cursor moved underneath is dropped
(:func:`wallet.chains.scanner.scan_step`); credits and payment moves are
guarded transitions, so nothing is counted twice whoever gets there first.
After a reorg the watcher runs the settled-deposit check itself
(:func:`wallet.chains.settled_reorgs.alert_settled_deposits_gone`), since the
sensor that would have asked for a confirmations run never sees that reorg.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from wallet.alerts.core import Alerter
from wallet.chains.base import ChainAdapter
from wallet.chains.confirmations import AdvanceReport, advance_payments
from wallet.chains.watchlist import Watchlist
from wallet.custody.service import ScanResult, scan_chain

log = logging.getLogger(__name__)

WATCHED_CHAINS = ("ethereum", "solana", "bitcoin", "dogecoin")
WATCH_S = 1.0  # between ticks of a chain something is waiting on
# Between ticks of a chain nothing waits on: no external payment open on it, no
# deposit short of its confirmations. Each second in between costs one query for
# every chain (:func:`~wallet.chains.confirmations.chains_with_open_payments`), so a
# payment opened meanwhile is watched from the next second. A deposit to an idle
# chain is first seen up to 10 s after its block (then every second until credited):
# its credit waits for confirmations anyway, and at most 5 s longer than at 5 s.
IDLE_WATCH_S = 10.0
ERROR_PAUSE_S = 10.0  # a chain whose tick raised (its node down) is skipped this long


@dataclass(frozen=True)
class ChainTick:
    """What one chain's tick did: the scan and the payments it moved."""

    scan: ScanResult
    payments: AdvanceReport = field(default_factory=AdvanceReport)

    @property
    def changed(self) -> bool:
        return self.scan.changed or bool(self.payments.moved)

    @property
    def confirmed(self) -> list[str]:
        return self.payments.moved.get("confirmed", [])


def tick_chain(
    factory: sessionmaker[Session],
    chain: str,
    adapter: ChainAdapter,
    settings: Any,
    watchlist: Watchlist | None = None,
) -> ChainTick:
    """Scan ``chain`` from its cursor, credit deposits, advance external payments; re-runnable."""
    scan = scan_chain(factory, chain, settings, adapter=adapter, watchlist=watchlist)
    if scan.end < scan.start and not scan.reorg_depth:
        # Confirmations only change with new blocks: a quiet tick costs no payment query.
        return ChainTick(scan)
    return ChainTick(scan, advance_payments(factory, chain, adapter=adapter, settings=settings))


class SharedAdapter:
    """An adapter factory that builds once and keeps the adapter open across ticks.

    Building an adapter per tick (an HTTP client and its TLS context; for
    Solana an event-loop thread too) was most of an idle tick's own cost. The
    adapter is dropped after a failed tick so the next one starts afresh.
    """

    def __init__(self, build: Callable[[], ChainAdapter]) -> None:
        self._build = build
        self._adapter: ChainAdapter | None = None
        self._lock = threading.Lock()

    def __call__(self) -> ChainAdapter:
        with self._lock:
            if self._adapter is None:
                self._adapter = self._build()
            return self._adapter

    def discard(self) -> None:
        with self._lock:
            adapter, self._adapter = self._adapter, None
        if adapter is not None:
            with contextlib.suppress(Exception):  # a broken adapter is thrown away anyway
                adapter.close()


def settings_adapter(chain: str, settings: Callable[[], Any]) -> Callable[[], ChainAdapter]:
    """A factory of custody's adapter for ``chain``, built from ``settings()`` when called."""

    def build() -> ChainAdapter:
        from wallet.assets import Chain
        from wallet.custody.service import build_adapter

        return build_adapter(Chain(chain), settings())

    return build


def watch_once(
    factory: sessionmaker[Session],
    chain: str,
    adapter_of: SharedAdapter,
    settings: Any,
    alerts: Alerter | None,
    watchlist: Watchlist | None = None,
) -> ChainTick:
    """One chain's tick, plus the settled-deposit check when it walked back a reorg."""
    from wallet.chains.settled_reorgs import alert_settled_deposits_gone

    adapter = adapter_of()
    tick = tick_chain(factory, chain, adapter, settings, watchlist)
    if tick.scan.reorg_depth and alerts is not None:
        gone = alert_settled_deposits_gone(factory, adapter, alerts)
        log.warning(
            "chain watcher: %s reorg of %d block(s); settled payments gone: %s",
            chain,
            tick.scan.reorg_depth,
            gone,
        )
    if tick.changed:
        log.info(
            "chain watcher: %s blocks %d-%d observed=%d credited=%d payments %s",
            chain,
            tick.scan.start,
            tick.scan.end,
            tick.scan.observed,
            len(tick.scan.credited),
            tick.payments,
        )
    return tick


def _confirmable(adapter: SharedAdapter, height: int | None) -> bool:
    """Whether the chain's head reached ``height``, where a pending deposit has its
    confirmations (one ``head`` call; never, with nothing pending)."""
    return height is not None and adapter().head().height >= height


def run_watcher(
    factory: sessionmaker[Session],
    adapters: Mapping[str, Callable[[], ChainAdapter]],
    settings: Any,
    stop: threading.Event,
    *,
    alerts: Alerter | None = None,
    watch_s: float = WATCH_S,
    idle_watch_s: float = IDLE_WATCH_S,
    error_pause_s: float = ERROR_PAUSE_S,
    pulse_dir: Path | None = None,
) -> None:
    """Tick every chain in ``adapters`` until ``stop`` is set.

    A chain is ticked every ``watch_s`` while an open external payment waits
    on it, as soon as its first pending deposit can have its confirmations,
    and otherwise every ``idle_watch_s``. A chain whose tick raises is
    logged and skipped for ``error_pause_s`` with its adapter rebuilt
    afterwards; the other chains go on, and so does the Dagster chains
    sensor (the safety net).
    """
    from wallet.chains import confirmations
    from wallet.observability.heartbeats import WATCHER_LOOP, Heart

    heart = Heart(factory, WATCHER_LOOP, pulse_dir=pulse_dir)
    chains = {name: SharedAdapter(build) for name, build in adapters.items()}
    watchlists = {name: Watchlist(name) for name in chains}  # loaded once, then read forward
    due = dict.fromkeys(chains, 0.0)  # the next tick of a chain nothing waits on
    paused_until = dict.fromkeys(chains, 0.0)  # after a failed tick
    confirm_at: dict[str, int | None] = dict.fromkeys(chains)  # see ScanResult.confirm_height
    try:
        while not stop.is_set():
            heart.pulse()  # every round, failed chains or not: the liveness probe looks for hangs
            waited_on: set[str] | None = None  # looked up once a round, when first needed
            for name, adapter in chains.items():
                now = time.monotonic()
                if stop.is_set():
                    break
                if now < paused_until[name]:
                    continue
                try:
                    if now < due[name]:
                        if waited_on is None:
                            with factory() as session:
                                waited_on = confirmations.chains_with_open_payments(session)
                        if name not in waited_on and not _confirmable(adapter, confirm_at[name]):
                            continue
                    tick = watch_once(factory, name, adapter, settings, alerts, watchlists[name])
                    confirm_at[name] = tick.scan.confirm_height  # None: none pending
                    due[name] = now + idle_watch_s
                except Exception:
                    log.exception(
                        "chain watcher: %s tick failed; the chains sensor is the net", name
                    )
                    adapter.discard()
                    paused_until[name] = time.monotonic() + error_pause_s
            heart.maybe_beat()  # a failing chain has its own alert (chain_lag)
            stop.wait(watch_s)
    finally:
        for adapter in chains.values():
            adapter.discard()
