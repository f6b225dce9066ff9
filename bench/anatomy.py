"""Where a load phase's time goes: CPU by process group and PostgreSQL waits.

Wrapped around one phase, :class:`PhaseAnatomy` reads ``utime + stime`` of
every process on the machine before and after (from /proc), grouped by
command line (the product's gunicorn, PostgreSQL's backends, this
process, the rest), and samples ``pg_stat_activity`` every 20 ms for
the backends of the benchmark's database that are active or waiting on a
lock. Divided by the requests the phase answered, that says whether the
web tier, PostgreSQL or row locks bound it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from bench.proctree import PROC, _cmdline, _stat

WAITS_SQL = text(
    "SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, 'running'), "
    "CASE WHEN wait_event_type = 'Lock' THEN left(regexp_replace(query, '\\s+', ' ', 'g'), 48) "
    "ELSE '' END "
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend' AND state = 'active'"
)


def cpu_by_pid(groups: dict[str, str]) -> dict[tuple[int, float], tuple[str, float]]:
    """(pid, start) -> (group, CPU seconds so far) for every process on the machine.

    The group is the first ``groups`` marker (``{"name": "marker"}``) its
    command line contains; ``bench`` is this process, ``other`` the rest.
    """
    out: dict[tuple[int, float], tuple[str, float]] = {}
    me = os.getpid()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        st = _stat(pid)
        if st is None:
            continue
        cmd = _cmdline(pid)
        name = "bench" if pid == me else next((g for g, m in groups.items() if m in cmd), "other")
        out[(pid, st[2])] = (name, st[1])
    return out


def cpu_between(
    before: dict[tuple[int, float], tuple[str, float]],
    after: dict[tuple[int, float], tuple[str, float]],
) -> dict[str, float]:
    """CPU seconds each group spent between two readings (a process born since from zero;
    one that ended in between is missed)."""
    spent: dict[str, float] = {}
    for key, (group, cpu) in after.items():
        spent[group] = spent.get(group, 0.0) + cpu - (before[key][1] if key in before else 0.0)
    return spent


@dataclass
class PhaseAnatomy:
    """CPU per group and PostgreSQL waits over one phase (a context manager)."""

    engine: Engine
    groups: dict[str, str]
    every_s: float = 0.02
    cpu_s: dict[str, float] = field(default_factory=dict)
    waits: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    samples: int = 0
    elapsed_s: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="pg-waits", daemon=True)
        self._before: dict[tuple[int, float], tuple[str, float]] = {}
        self._started = 0.0

    def _sample(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.wait(self.every_s):
                for row in conn.execute(WAITS_SQL):
                    self.waits[(str(row[0]), str(row[1]), str(row[2]))] += 1
                self.samples += 1
                conn.rollback()  # a fresh snapshot of pg_stat_activity each time

    def __enter__(self) -> PhaseAnatomy:
        self._before = cpu_by_pid(self.groups)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.cpu_s = cpu_between(self._before, cpu_by_pid(self.groups))
        self.elapsed_s = time.monotonic() - self._started

    def backends(self) -> list[tuple[tuple[str, str, str], float]]:
        """(wait type, event, locked statement) with the average number of backends in it."""
        if not self.samples:
            return []
        return [(k, n / self.samples) for k, n in self.waits.most_common()]
