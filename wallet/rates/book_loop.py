"""The warm worker's order-book loop: the books quotes size their routes over.

Quotes read the cached books and refuse them past ``book_max_age_seconds``
(30 s), so something must refresh them about every 10 s. A Dagster sensor
can, but each of its ticks costs the daemon's bookkeeping and a code-server
evaluation whatever it fetches: about 0.2-0.3 % of a core for each tick a
minute, against about 0.04 % for the refresh itself (py-spy, bench (5)).
``taskforce settle-worker`` runs this loop instead and the order-books
sensor ticks as its slower safety net, as the payments and chains sensors
do for the other two loops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from wallet.observability.heartbeats import BOOKS_LOOP, Heart

log = logging.getLogger(__name__)

BOOKS_EVERY_S = 10.0  # three refreshes inside the books' 30-s age limit


def run_book_loop(
    refresh: Callable[[], bool],
    factory: sessionmaker[Session],
    stop: threading.Event,
    *,
    every_s: float = BOOKS_EVERY_S,
    pulse_dir: Path | None = None,
) -> None:
    """Call ``refresh`` every ``every_s`` until ``stop`` is set.

    ``refresh`` returns whether the books were stored (``False``: no venue
    answered, which it alerts on itself). The loop beats only after a
    refresh that stored books, pulses on every pass, and never stops on an
    error: the order-books sensor is the net meanwhile.
    """
    heart = Heart(factory, BOOKS_LOOP, pulse_dir=pulse_dir)
    while not stop.is_set():
        heart.pulse()
        try:
            if refresh():
                heart.maybe_beat()
        except Exception:
            log.exception("order-book refresh failed; the order-books sensor is the net")
        stop.wait(every_s)
