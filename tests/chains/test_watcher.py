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
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.conftest import db_url, factory
from wallet.chains import watcher
from wallet.chains.confirmations import AdvanceReport
from wallet.chains.watchlist import Watchlist
from wallet.custody.service import ScanResult

__all__ = ["db_url", "factory"]  # fixtures: the open-payment lookup on both databases


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
    watchlists: set[tuple[str, int]] = set()

    def fake_tick(
        _factory: Any, chain: str, _adapter: Any, _settings: Any, watchlist: Watchlist
    ) -> watcher.ChainTick:
        ticks.append(chain)
        watchlists.add((watchlist.chain, id(watchlist)))
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
    # Each chain keeps one watchlist of its own across ticks, failed ones too.
    assert sorted(chain for chain, _id in watchlists) == ["bitcoin", "ethereum"]


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
    ``done``; the caller has faked ``tick_chain`` and ``chains_with_open_payments``."""
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
    real = confirmations.chains_with_open_payments

    def fake_tick(
        _factory: Any, chain: str, _adapter: Any, _settings: Any, _watchlist: Any
    ) -> watcher.ChainTick:
        ticks.append(chain)
        return watcher.ChainTick(ScanResult(chain, 5, 5, 0, 0), AdvanceReport())

    def look(session: Any) -> set[str]:
        found = real(session)  # the real query, on an empty database
        looks.append(bool(found))
        return {"ethereum"} if open_payment else found

    monkeypatch.setattr(watcher, "tick_chain", fake_tick)
    monkeypatch.setattr(confirmations, "chains_with_open_payments", look)
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

    def fake_tick(
        _factory: Any, chain: str, _adapter: Any, _settings: Any, _watchlist: Any
    ) -> watcher.ChainTick:
        at = heads[-1] if heads else 0
        ticks.append(at)
        if at < 105:  # one deposit, creditable from height 105
            return watcher.ChainTick(ScanResult(chain, 5, 5, 1, 0, pending=1, confirm_height=105))
        return watcher.ChainTick(ScanResult(chain, 5, 5, 0, 0))

    def look(_session: Any) -> set[str]:
        looks.append("looked")
        return set()  # no external payment waits on any chain

    monkeypatch.setattr(watcher, "tick_chain", fake_tick)
    monkeypatch.setattr(confirmations, "chains_with_open_payments", look)
    _watch_one_chain_until(
        tmp_path, _Chain, lambda: len(ticks) >= 2 and len(looks) >= len(heads) + 5, (ticks, heads)
    )
    assert ticks == [0, 105]  # the first pass, then the height that confirms the deposit
    assert heads == [100, 101, 102, 103, 104, 105]  # credited: no more head calls


def test_chains_nobody_waits_on_share_one_query_a_round(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from tests.settlement.helpers import sqlite_factory
    from wallet.chains import confirmations

    looks: list[int] = []

    class _CountedStop(threading.Event):
        rounds = 0

        def wait(self, timeout: float | None = None) -> bool:
            _CountedStop.rounds += 1
            return super().wait(timeout)

    def fake_tick(
        _factory: Any, chain: str, _adapter: Any, _settings: Any, _watchlist: Any
    ) -> watcher.ChainTick:
        return watcher.ChainTick(ScanResult(chain, 5, 5, 0, 0), AdvanceReport())

    def look(_session: Any) -> set[str]:
        looks.append(1)
        return set()

    monkeypatch.setattr(watcher, "tick_chain", fake_tick)
    monkeypatch.setattr(confirmations, "chains_with_open_payments", look)
    engine, factory = sqlite_factory(tmp_path / "w.db")
    stop = _CountedStop()
    chains = {name: _Adapter for name in watcher.WATCHED_CHAINS}
    thread = threading.Thread(
        target=watcher.run_watcher,
        args=(factory, chains, None, stop),
        kwargs={"watch_s": 0.01, "idle_watch_s": 3600.0},
    )
    thread.start()
    try:
        _wait(lambda: len(looks) >= 10, looks)
    finally:
        stop.set()
        thread.join(10)
        engine.dispose()
    # The first round ticks every chain; each later one looks once for all four.
    assert len(looks) <= _CountedStop.rounds


def test_the_open_payment_lookup_names_each_chain_an_external_payment_waits_on(
    factory: sessionmaker[Session],
) -> None:
    from tests.payments.helpers import build_payment, make_user
    from wallet.chains.confirmations import chains_with_open_payments
    from wallet.db.models import PaymentSource, PaymentStatus
    from wallet.db.session import transaction

    with transaction(factory) as session:
        user = make_user(session)
        for asset, status, source in (
            ("ETH", PaymentStatus.AWAITING_FUNDS, PaymentSource.EXTERNAL),
            ("USDC-SPL", PaymentStatus.DETECTED, PaymentSource.EXTERNAL),
            ("USDC", PaymentStatus.CONFIRMED, PaymentSource.EXTERNAL),  # ethereum again
            ("BTC", PaymentStatus.COMPLETED, PaymentSource.EXTERNAL),  # no longer followed
            ("DOGE", PaymentStatus.CONFIRMED, PaymentSource.CUSTODIAL),  # nothing on chain
        ):
            payment = build_payment(session, user.id)
            payment.asset, payment.status, payment.source = asset, status, source
            payment.deposit_address = f"addr-{asset}"
            session.add(payment)
    with factory() as session:
        assert chains_with_open_payments(session) == {"ethereum", "solana"}
