"""Heartbeats of the warm worker's loops, and the condition that reads them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.settlement.helpers import sqlite_factory
from wallet.alerts.conditions import workers_silent
from wallet.db.base import utcnow
from wallet.db.models import WorkerHeartbeat
from wallet.observability.heartbeats import Heart, beat, last_beats


def test_a_beat_overwrites_the_loops_one_row(tmp_path: Path) -> None:
    engine, factory = sqlite_factory(tmp_path / "h.db")
    started = utcnow() - timedelta(minutes=5)
    beat(factory, "loop-a", started)
    with factory() as s:
        first = last_beats(s)["loop-a"]
    beat(factory, "loop-a", started)
    beat(factory, "loop-b", started)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(WorkerHeartbeat)) == 2
        beats = last_beats(s)
    assert beats["loop-a"] >= first and set(beats) == {"loop-a", "loop-b"}
    engine.dispose()


def test_a_heart_beats_at_most_once_per_period(tmp_path: Path) -> None:
    engine, factory = sqlite_factory(tmp_path / "h.db")
    clock = [100.0]
    heart = Heart(factory, "loop", every_s=10.0, clock=lambda: clock[0])
    written = []
    for step in (0.0, 1.0, 5.0, 10.5, 11.0, 21.0):
        clock[0] = 100.0 + step
        heart.maybe_beat()
        with factory() as s:
            written.append(last_beats(s)["loop"])
    assert len(set(written)) == 3  # at 0, 10.5 and 21 s
    engine.dispose()


def test_a_heart_whose_database_is_down_does_not_stop_its_loop() -> None:
    def broken() -> None:
        raise ConnectionError("database down")

    Heart(broken, "loop").maybe_beat()  # type: ignore[arg-type]  # logs, does not raise


def test_workers_silent_names_each_loop_never_heard_or_too_quiet() -> None:
    now = utcnow()
    beats = {"fresh": now - timedelta(seconds=30), "stale": now - timedelta(seconds=600)}
    check = workers_silent(beats, ["fresh", "stale", "never"], now, 120)
    assert sorted(a.key for a in check.firing) == ["worker_silent:never", "worker_silent:stale"]
    assert workers_silent(beats, [], now, 120).firing == ()  # nothing expected to run
