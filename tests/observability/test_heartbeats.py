"""Heartbeats of the warm worker's loops, and the condition that reads them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.settlement.helpers import sqlite_factory
from wallet.alerts.conditions import workers_silent
from wallet.db.base import utcnow
from wallet.db.models import WorkerHeartbeat
from wallet.observability.heartbeats import (
    PULSE_EVERY_S,
    WARM_LOOPS,
    Heart,
    beat,
    last_beats,
    pulse_file,
    stale_pulses,
)


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


# -- pulses: the liveness probe's local files --------------------------------------------


def test_a_pulse_touches_the_loops_file_at_most_every_few_seconds(tmp_path: Path) -> None:
    _engine, factory = sqlite_factory(tmp_path / "h.db")
    clock = [100.0]
    heart = Heart(factory, "settle-worker:x", clock=lambda: clock[0], pulse_dir=tmp_path / "p")
    file = pulse_file(tmp_path / "p", "settle-worker:x")
    assert file.parent.is_dir() and not file.exists()
    heart.pulse()
    assert file.exists()
    os.utime(file, (1.0, 1.0))  # as if long ago
    clock[0] += PULSE_EVERY_S / 2
    heart.pulse()  # too soon: not touched again
    assert file.stat().st_mtime == 1.0
    clock[0] += PULSE_EVERY_S
    heart.pulse()
    assert file.stat().st_mtime > 1.0


def test_stale_pulses_name_each_loop_missing_or_too_old(tmp_path: Path) -> None:
    for name, age in (("fresh", 10.0), ("old", 500.0)):
        file = pulse_file(tmp_path, name)
        file.touch()
        os.utime(file, (1_000.0 - age, 1_000.0 - age))
    stale = stale_pulses(tmp_path, ["fresh", "old", "never"], 120.0, now=1_000.0)
    assert stale == {"old": "last pulse 500 s ago", "never": "no pulse yet"}


def test_the_worker_loop_pulses_even_while_its_passes_fail(tmp_path: Path) -> None:
    from wallet.observability.heartbeats import SETTLEMENT_LOOP
    from wallet.settlement.worker import run_worker

    _engine, factory = sqlite_factory(tmp_path / "h.db")

    class Broken:
        """Deps whose every pass fails (as with the exchange or RazorpayX away)."""

        def __init__(self) -> None:
            self.factory = factory

        def clock(self) -> object:
            raise ConnectionError("away")

    pulsed = _pulse_of_running_loop(
        lambda stop: run_worker(Broken, stop, error_pause_s=0.01, pulse_dir=tmp_path / "p"),
        pulse_file(tmp_path / "p", SETTLEMENT_LOOP),
    )
    assert pulsed
    with factory() as s:
        assert SETTLEMENT_LOOP not in last_beats(s)  # no heartbeat: nothing worked


def test_the_alive_command_is_the_liveness_probe(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WORKER_PULSE_DIR"}
    cmd = [sys.executable, "-m", "taskforce", "settle-worker", "--alive", "--within", "60"]

    def probe(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd, env={**env, **extra}, capture_output=True, text=True, timeout=60, check=False
        )

    unset = probe()
    assert unset.returncode == 2 and "WORKER_PULSE_DIR" in unset.stderr
    pulses = tmp_path / "pulse"
    pulses.mkdir()
    missing = probe(WORKER_PULSE_DIR=str(pulses))
    assert missing.returncode == 1 and all(n in missing.stderr for n in WARM_LOOPS)
    for name in WARM_LOOPS:
        pulse_file(pulses, name).touch()
    assert probe(WORKER_PULSE_DIR=str(pulses)).returncode == 0
    hung = pulse_file(pulses, WARM_LOOPS[1])
    os.utime(hung, (time.time() - 300, time.time() - 300))
    stale = probe(WORKER_PULSE_DIR=str(pulses))
    assert stale.returncode == 1 and WARM_LOOPS[1] in stale.stderr
    assert WARM_LOOPS[0] not in stale.stderr


def test_the_book_loop_pulses_every_pass_and_beats_only_after_books_were_stored(
    tmp_path: Path,
) -> None:
    from wallet.observability.heartbeats import BOOKS_LOOP
    from wallet.rates.book_loop import run_book_loop

    _engine, factory = sqlite_factory(tmp_path / "h.db")
    outcomes: list[object] = [ConnectionError("venue away"), False, True]
    calls: list[object] = []
    beaten_before: list[bool] = []  # whether the loop had beaten before each call

    def refresh() -> bool:
        with factory() as s:
            beaten_before.append(BOOKS_LOOP in last_beats(s))
        outcome = outcomes[min(len(calls), len(outcomes) - 1)]
        calls.append(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        return bool(outcome)

    stop = threading.Event()

    def until_beaten() -> None:
        deadline = time.monotonic() + 10
        while not stop.is_set() and time.monotonic() < deadline:
            with factory() as s:
                if BOOKS_LOOP in last_beats(s):
                    break
            time.sleep(0.01)
        stop.set()

    watcher = threading.Thread(target=until_beaten)
    watcher.start()
    run_book_loop(refresh, factory, stop, every_s=0.01, pulse_dir=tmp_path / "p")
    watcher.join(10)
    assert calls[:3] == outcomes  # the error did not stop the loop
    # Neither the error nor "no venue answered" beat; storing books did.
    assert beaten_before[:3] == [False, False, False]
    with factory() as s:
        assert BOOKS_LOOP in last_beats(s)
    assert pulse_file(tmp_path / "p", BOOKS_LOOP).exists()


def test_the_chain_watcher_pulses_each_round(tmp_path: Path) -> None:
    from wallet.chains.watcher import run_watcher
    from wallet.observability.heartbeats import WATCHER_LOOP

    _engine, factory = sqlite_factory(tmp_path / "h.db")
    assert _pulse_of_running_loop(
        lambda stop: run_watcher(factory, {}, None, stop, watch_s=0.01, pulse_dir=tmp_path / "p"),
        pulse_file(tmp_path / "p", WATCHER_LOOP),
    )


def _pulse_of_running_loop(loop: Callable[[threading.Event], None], file: Path) -> bool:
    """Run ``loop`` in a thread until ``file`` appears (10 s at most); whether it did."""
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return file.exists()
    finally:
        stop.set()
        thread.join(10)
