"""The warm chain watcher's loop: every chain ticked, a failing chain paused alone.

Unit tests: the chain tick itself is faked here (its real work is tested
against anvil in ``tests/settlement/test_external_eth.py``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from wallet.chains import watcher
from wallet.chains.confirmations import AdvanceReport
from wallet.custody.service import ScanResult


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
        kwargs={"watch_s": 0.01, "error_pause_s": 0.2},
    )
    _Adapter.closed = 0
    thread.start()
    deadline = time.monotonic() + 30
    while ticks.count("bitcoin") < 3:
        assert time.monotonic() < deadline, ticks
        time.sleep(0.01)
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
