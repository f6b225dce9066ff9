"""Heartbeats of our own long-lived loops, so a silent one is noticed.

``taskforce settle-worker`` runs the pay-and-sell loop and the chain
watcher; while it is down, Dagster's sensors still settle every payment,
tens of seconds later, and nothing else would say so. Each loop beats at
most every :data:`BEAT_EVERY_S` (one upsert of its ``worker_heartbeats``
row); the monitoring sensor raises ``worker_silent:<loop>`` when a loop that
should run has been silent longer than ``worker_silence_seconds``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime

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
WARM_LOOPS = (SETTLEMENT_LOOP, WATCHER_LOOP)


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
    rows = session.execute(select(WorkerHeartbeat.name, WorkerHeartbeat.beat_at)).tuples()
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
    ) -> None:
        self._factory = factory
        self.name = name
        self._every_s = every_s
        self._clock = clock
        self._started_at = utcnow()
        self._next = 0.0

    def maybe_beat(self) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._every_s
        try:
            beat(self._factory, self.name, self._started_at)
        except Exception:  # the database is down: the loop's own errors say so
            log.warning("heartbeat %s not recorded", self.name)
