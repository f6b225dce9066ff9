"""The warm chain watcher's loop: every chain ticked, a failing chain paused alone.

Unit tests: the chain tick itself is faked here (its real work is tested
against anvil in ``tests/settlement/test_external_eth.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from wallet.chains import watcher
from wallet.chains.confirmations import AdvanceReport
from wallet.custody.service import ScanResult


def _wait(done: Callable[[], bool], seen: object) -> None:
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, seen
        time.sleep(0.01)


class _Adapter:
    closed = 0

    def close(self) -> None:
        _Adapter.closed += 1


def test_a_failing_chain_is_paused_and_rebuilt_while_the_others_keep_ticking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks: list[str] = []
    built: list[str] = []

    def fake_tick(_factory: Any, chain: str, _adapter: Any, _settings: Any) -> watcher.ChainTick:
        ticks.append(chain)
        if chain == "bitcoin":
            raise ConnectionError("node down")
        return watcher.ChainTick(ScanResult(chain, 5, 4, 0, 0), AdvanceReport())

    def build(chain: str) -> Any:
        def _build() -> _Adapter:
            built.append(chain)
            return _Adapter()

        return _build

    monkeypatch.setattr(watcher, "tick_chain", fake_tick)
    stop = threading.Event()
    thread = threading.Thread(
        target=watcher.run_watcher,
        args=(None, {"ethereum": build("ethereum"), "bitcoin": build("bitcoin")}, None, stop),
        kwargs={"watch_s": 0.01, "idle_watch_s": 0.0, "error_pause_s": 0.2},
    )
    _Adapter.closed = 0
    thread.start()
    try:
        _wait(lambda: ticks.count("bitcoin") >= 3, ticks)
    finally:  # a failed wait must not leave the loop running past the monkeypatch
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    # The healthy chain ticked many times between the broken one's paused retries.
    assert ticks.count("ethereum") > 3 * ticks.count("bitcoin")
    # The healthy chain's adapter was built once and kept; the broken one's rebuilt per retry.
    assert built.count("ethereum") == 1
    assert built.count("bitcoin") == ticks.count("bitcoin")
    assert _Adapter.closed == len(built)  # every adapter closed: discarded or at the stop


def test_a_quiet_tick_reports_no_change() -> None:
    quiet = watcher.ChainTick(ScanResult("ethereum", 5, 4, 0, 0))
    assert not quiet.changed and quiet.confirmed == []
    moved = AdvanceReport()
    moved.moved["confirmed"] = ["pay_1"]
    busy = watcher.ChainTick(ScanResult("ethereum", 5, 5, 0, 0), moved)
    assert busy.changed and busy.confirmed == ["pay_1"]


def _watch_one_chain_until(
    tmp_path: Any, adapter: Callable[[], Any], done: Callable[[], bool], seen: object
) -> None:
    """Run the watcher over one chain (hour-long idle cadence) on a fresh database until
    ``done``; the caller has faked ``tick_chain`` and ``has_open_payments``."""
    from tests.settlement.helpers import sqlite_factory

    engine, factory = sqlite_factory(tmp_path / "w.db")
    stop = threading.Event()
    thread = threading.Thread(
        target=watcher.run_watcher,
        args=(factory, {"ethereum": adapter}, None, stop),
        kwargs={"watch_s": 0.01, "idle_watch_s": 3600.0},
    )
    thread.start()
    try:
        _wait(done, seen)
    finally:  # a failed wait must not leave the loop running past the monkeypatch
        stop.set()
        thread.join(10)
        engine.dispose()


def _ticks_and_looks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, open_payment: bool
) -> tuple[int, int]:
    """One chain's ticks, and its looks for open payments, with an hour-long idle cadence."""
    from wallet.chains import confirmations

    ticks: list[str] = []
    looks: list[bool] = []
    real = confirmations.has_open_payments

    def fake_tick(_factory: Any, chain: str, _adapter: Any, _settings: Any) -> watcher.ChainTick:
        ticks.append(chain)
        return watcher.ChainTick(ScanResult(chain, 5, 5, 0, 0), AdvanceReport())

    def look(session: Any, chain: str) -> bool:
        looks.append(real(session, chain))  # the real query, on an empty database
        return open_payment or looks[-1]

    monkeypatch.setattr(watcher, "tick_chain", fake_tick)
    monkeypatch.setattr(confirmations, "has_open_payments", look)
    _watch_one_chain_until(tmp_path, _Adapter, lambda: len(looks) >= 5, looks)
    assert not any(looks)  # nothing is open in the database
    return len(ticks), len(looks)


def test_a_chain_nobody_waits_on_costs_one_query_a_pass_not_a_tick(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # The first pass ticks (the idle cadence starts then); the next ones only look.
    ticks, looks = _ticks_and_looks(monkeypatch, tmp_path, open_payment=False)
    assert (ticks, looks >= 5) == (1, True)


def test_a_chain_with_an_open_external_payment_is_ticked_every_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    ticks, looks = _ticks_and_looks(monkeypatch, tmp_path, open_payment=True)
    assert ticks == looks + 1  # the first pass, then a tick after every look


def test_a_pending_deposit_is_ticked_again_once_its_confirmations_can_be_met(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # Between idle ticks, a chain whose deposit is short of its confirmations costs one
    # head call a pass, and is ticked when the head reaches the height that confirms it.
    from wallet.chains import confirmations

    heights = iter(range(100, 10_000))
    heads: list[int] = []  # every head the watcher asked for
    ticks: list[int] = []  # the last head seen at each tick
    looks: list[str] = []

    class _Head:
        def __init__(self, height: int) -> None:
            self.height = height

    class _Chain(_Adapter):
        def head(self) -> _Head:
            heads.append(next(heights))
            return _Head(heads[-1])

    def fake_tick(_factory: Any, chain: str, _adapter: Any, _settings: Any) -> watcher.ChainTick:
        at = heads[-1] if heads else 0
        ticks.append(at)
        if at < 105:  # one deposit, creditable from height 105
            return watcher.ChainTick(ScanResult(chain, 5, 5, 1, 0, pending=1, confirm_height=105))
        return watcher.ChainTick(ScanResult(chain, 5, 5, 0, 0))

    def look(_session: Any, chain: str) -> bool:
        looks.append(chain)
        return False  # no external payment waits on the chain

    monkeypatch.setattr(watcher, "tick_chain", fake_tick)
    monkeypatch.setattr(confirmations, "has_open_payments", look)
    _watch_one_chain_until(
        tmp_path, _Chain, lambda: len(ticks) >= 2 and len(looks) >= len(heads) + 5, (ticks, heads)
    )
    assert ticks == [0, 105]  # the first pass, then the height that confirms the deposit
    assert heads == [100, 101, 102, 103, 104, 105]  # credited: no more head calls
