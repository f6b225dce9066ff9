"""Heartbeats of our own long-lived loops, so a silent one is noticed.

``taskforce settle-worker`` runs the pay-and-sell loop, the chain watcher
and the order-book refresh; while it is down, Dagster's sensors still do
their work, tens of seconds later, and nothing else would say so. Each loop
beats at most every :data:`BEAT_EVERY_S` (one upsert of its
``worker_heartbeats`` row); the monitoring sensor raises
``worker_silent:<loop>`` when a loop that should run has been silent longer
than ``worker_silence_seconds``.

Those beats go to the database and only after a pass that worked, which is
what an operator wants to hear about. Whether to *restart* the process is a
different question (a loop failing because PostgreSQL is down is not
helped by a restart; a hung one is), so each loop also touches a local
**pulse** file on every pass, failed or not, when ``worker_pulse_dir`` is
set; ``taskforce settle-worker --alive`` (the pod's liveness probe) fails
when a loop's pulse is older than its allowance.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.db.base import utcnow
from wallet.db.models.ops import WorkerHeartbeat
from wallet.db.session import transaction

log = logging.getLogger(__name__)

BEAT_EVERY_S = 10.0
SETTLEMENT_LOOP = "settle-worker:settlement"
WATCHER_LOOP = "settle-worker:chain-watcher"
BOOKS_LOOP = "settle-worker:order-books"
WARM_LOOPS = (SETTLEMENT_LOOP, WATCHER_LOOP, BOOKS_LOOP)
PULSE_EVERY_S = 5.0  # pulse file touches, at most


def pulse_file(directory: Path, name: str) -> Path:
    """The pulse file of loop ``name`` in ``directory``."""
    return directory / ("pulse-" + name.replace(":", "_").replace("/", "_"))


def stale_pulses(
    directory: Path, names: Iterable[str], within_s: float, *, now: float | None = None
) -> dict[str, str]:
    """Loop name -> why it counts as hung (no pulse file, or one older than ``within_s``)."""
    now = time.time() if now is None else now
    stale: dict[str, str] = {}
    for name in names:
        try:
            age = now - pulse_file(directory, name).stat().st_mtime
        except FileNotFoundError:
            stale[name] = "no pulse yet"
            continue
        if age > within_s:
            stale[name] = f"last pulse {age:.0f} s ago"
    return stale


def beat(factory: sessionmaker[Session], name: str, started_at: datetime) -> None:
    """Record that loop ``name`` (running since ``started_at``) is alive now."""
    now = utcnow()
    values = {"host": socket.gethostname()[:255], "pid": os.getpid(), "started_at": started_at}
    with transaction(factory) as session:
        done = session.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.name == name)
            .values(beat_at=now, **values)
        )
        if getattr(done, "rowcount", 0):
            return
    try:
        with transaction(factory) as session:
            session.add(WorkerHeartbeat(name=name, beat_at=now, **values))
    except IntegrityError:
        beat(factory, name, started_at)  # a twin inserted it first: update instead


def last_beats(session: Session) -> dict[str, datetime]:
    """Every loop's latest beat."""
    rows = session.execute(select(WorkerHeartbeat.name, WorkerHeartbeat.beat_at))
    return {name: at for name, at in rows}


class Heart:
    """Beats for one loop, at most every ``every_s``; a failed beat never stops the loop."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        name: str,
        *,
        every_s: float = BEAT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        pulse_dir: Path | None = None,
    ) -> None:
        self._factory = factory
        self.name = name
        self._every_s = every_s
        self._clock = clock
        self._started_at = utcnow()
        self._next = 0.0
        self._pulse = None if pulse_dir is None else pulse_file(pulse_dir, name)
        self._next_pulse = 0.0
        if pulse_dir is not None:
            pulse_dir.mkdir(parents=True, exist_ok=True)

    def pulse(self) -> None:
        """The loop came round again (whether its pass worked or not): touch the pulse file."""
        if self._pulse is None:
            return
        now = self._clock()
        if now < self._next_pulse:
            return
        self._next_pulse = now + PULSE_EVERY_S
        try:
            self._pulse.touch()
        except OSError:  # a full or read-only disk: the probe will say so
            log.warning("pulse %s not recorded", self.name)

    def maybe_beat(self) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._every_s
        try:
            beat(self._factory, self.name, self._started_at)
        except Exception:  # the database is down: the loop's own errors say so
            log.warning("heartbeat %s not recorded", self.name)
