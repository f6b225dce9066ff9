"""The sweep worker: keeps the hot wallets stocked from users' deposit addresses.

Each call of :func:`advance_sweeps` — one tick of the housekeeping sensor —
runs :mod:`wallet.custody.sweeps` on the chains that have something to do:

1. **Gate** — one statement: the newest credit id, and whether any sweep is
   open (``planned``/``topup``/``sent``; the status index). A chain is due
   when a sweep of it is open, or a credit newer than this process's last
   quiet pass over it arrived (a pass that planned or moved something keeps
   it due: planning skips an address while another sweep of it is open).
   With nothing due this is the whole tick: no signer, no adapter, no RPC.
   The memory is per process and forgotten every :data:`FULL_PASS_SECONDS`
   (the sweep rows and credits are the truth; this is only a shortcut).
   Completed external payments' escrow, which has no credit, is planned on
   those full passes: it is not needed to pay anyone, so ten minutes is soon enough.
2. **Plan and advance** — :func:`~wallet.custody.sweeps.run_sweeps` for each
   due chain: a deposit address holding at least ``sweep_min`` (custody's
   config from settings) since its last credit gets a sweep to the chain's
   hot wallet; the hot wallet's surplus above ``cold_threshold`` a cold
   move; every open sweep goes as far as the chain allows. A native sweep
   whose fee would eat most of it is not planned
   (:func:`wallet.custody.sweeps.worth_sweeping`).
3. **Cold** — when a sweep confirmed in this pass, the hot balance grew:
   the cold threshold is checked again at once.

**Nobody's balance changes.** A sweep moves coins between our own
addresses; ``hot:<chain>:<ASSET>`` is everything we hold on the chain
(docs/decisions.md), so the principal is not booked at all. The deposit
scanner never credits the arrival (its ``chain_broadcasts`` purpose is
internal); only the fee each landed transaction burns is booked
(``expense:network_fees`` Dr / ``hot:`` Cr).

Concurrency: sweep ids are deterministic and each status change is taken
under the sweep's row lock, and every transfer is signed once per key
(:func:`wallet.chains.broadcast.send`), so two processes running this at
once plan one row and send one transaction per sweep.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import Chain
from wallet.custody.chain_work import ChainWork
from wallet.custody.config import CustodyConfig
from wallet.custody.models import CustodySweep, SweepStatus
from wallet.custody.sweeps import OPEN, plan_cold, run_sweeps
from wallet.custody.withdrawal_worker import hot_address
from wallet.db.models.chain import Credit
from wallet.db.session import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepDeps(ChainWork):
    """What sweeping needs from the outside world (built only when a chain is due)."""

    config: CustodyConfig


# Every this often each chain is planned again whatever the gate says: a credit whose id
# was taken before the newest one but committed after it (concurrent transactions on
# PostgreSQL) is below the remembered id, and would otherwise wait for the next credit.
FULL_PASS_SECONDS = 600.0


@dataclass
class SweepWatch:
    """Per process: the newest credit id each chain was planned after (the gate's memory)."""

    planned_after: dict[str, int] = field(default_factory=dict)
    full_pass_seconds: float = FULL_PASS_SECONDS
    clock: Callable[[], float] = time.monotonic
    lock: threading.Lock = field(default_factory=threading.Lock)
    _since: float | None = None

    def expire(self) -> None:
        """Forget everything once per ``full_pass_seconds`` (the next pass plans every chain)."""
        now = self.clock()
        if self._since is None or now - self._since >= self.full_pass_seconds:
            self.planned_after.clear()
            self._since = now


@dataclass
class SweepTick:
    """What one :func:`advance_sweeps` call did."""

    chains: list[str] = field(default_factory=list)  # chains worked this pass
    planned: list[str] = field(default_factory=list)
    statuses: dict[str, SweepStatus] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (chain, error)

    @property
    def idle(self) -> bool:
        return not (self.chains or self.errors)

    def __str__(self) -> str:
        if self.idle:
            return "nothing to sweep"
        counts: dict[str, int] = {}
        for status in self.statuses.values():
            counts[status.value] = counts.get(status.value, 0) + 1
        moved = " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no open sweep"
        text = f"chains={','.join(self.chains) or '-'} planned={len(self.planned)} {moved}"
        return text + (f" errors={len(self.errors)}" if self.errors else "")


def _gate(factory: sessionmaker[Session]) -> tuple[int, bool]:
    """(newest credit id or 0, whether any sweep is open): one statement, two index probes."""
    with factory() as session:
        newest, open_ = session.execute(
            select(
                select(func.max(Credit.id)).scalar_subquery(),
                exists().where(CustodySweep.status.in_(OPEN)),
            )
        ).one()
    return int(newest or 0), bool(open_)


def _due(
    factory: sessionmaker[Session], chains: Iterable[str], watch: SweepWatch, newest: int
) -> list[str]:
    """Chains with an open sweep or a credit newer than their last planning."""
    due = []
    with factory() as session:
        for chain in chains:
            after = watch.planned_after.get(chain, 0)
            fresh = bool(
                session.scalar(select(exists().where(Credit.chain == chain, Credit.id > after)))
            )
            busy = bool(
                session.scalar(
                    select(
                        exists().where(CustodySweep.chain == chain, CustodySweep.status.in_(OPEN))
                    )
                )
            )
            if fresh or busy:
                due.append(chain)
            else:
                watch.planned_after[chain] = newest
    return due


def advance_sweeps(
    factory: sessionmaker[Session],
    deps: Callable[[], SweepDeps],
    *,
    chains: Iterable[str],
    watch: SweepWatch,
) -> SweepTick:
    """One sweep pass over ``chains`` (module docstring); cheap when nothing is due.

    ``deps`` is called only when a chain is due. ``watch`` is this process's
    memory of what it already planned (one per process; tests make their own).
    """
    tick = SweepTick()
    chains = list(chains)
    newest, any_open = _gate(factory)
    with watch.lock:
        watch.expire()
        seen = [watch.planned_after.get(c) for c in chains]
    if not any_open and all(s is not None and s >= newest for s in seen):
        return tick
    with watch.lock:
        due = _due(factory, chains, watch, newest)
    if not due:
        return tick
    built = deps()
    for name in due:
        chain = Chain(name)
        try:
            adapter = built.adapter(chain)
            with transaction(factory) as session:
                hot_address(session, built.keys, chain)  # EVM/UTXO: made on first use
            report = run_sweeps(factory, adapter, built.signer, built.config)
            if SweepStatus.CONFIRMED in report.statuses.values():
                # The hot balance grew: a surplus goes cold now, not after the next credit.
                report.planned += plan_cold(factory, adapter, built.config)
        except Exception as exc:  # one chain's failure must not stop the others
            log.exception("sweeps on %s failed; retried next tick", name)
            tick.errors.append((name, f"{type(exc).__name__}: {str(exc)[:200]}"))
            built.discard(chain)
            continue
        tick.chains.append(name)
        tick.planned += report.planned
        tick.statuses.update(report.statuses)
        if not report.planned and not report.statuses:
            # A quiet pass: every credit so far is swept or below the minimum. A pass that
            # did something keeps the chain due, because planning skips an address while
            # another sweep of it is open (its native coin after its tokens).
            with watch.lock:
                watch.planned_after[name] = max(newest, watch.planned_after.get(name, 0))
    return tick


__all__ = ["FULL_PASS_SECONDS", "SweepDeps", "SweepTick", "SweepWatch", "advance_sweeps"]
