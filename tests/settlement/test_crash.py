"""SIGKILL at each named step, rerun: one payout, one sell per leg, balanced books."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import custodial_payment, deps_for
from wallet.db.models import ExchangeOrder, Payment, Payout
from wallet.ledger import check_invariants, get_balance
from wallet.payments.states import PaymentStatus
from wallet.settlement.crash import CRASH_ENV, POINTS

ROOT = Path(__file__).resolve().parents[2]


def _run(state: Path, pid: str, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "tests.settlement.worker", str(state), pid],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_at_any_step_then_a_rerun_pays_and_sells_exactly_once(
    point: str,
    db_url: str,
    factory: sessionmaker[Session],
    rzp: dict[str, Any],
    venues: dict[str, Any],
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"db_url": db_url, "rzp": rzp, "venues": venues}))
    deps = deps_for(factory, rzp, venues)
    pid = custodial_payment(factory)
    sol_before = deps.exchanges["binance"].balances()["SOL"].total
    usdt_inr_before = deps.exchanges["inr"].balances()["USDT"].total

    crashed = _run(state, pid, point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    rerun = _run(state, pid, None)
    assert rerun.returncode == 0, rerun.stderr[-3000:]

    assert len(deps.payouts.find_payouts(pid)) == 1
    with factory() as s:
        assert s.get_one(Payment, pid).status is PaymentStatus.COMPLETED
        assert s.scalars(select(Payout.status).where(Payout.payment_id == pid)).all() == [
            "processed"
        ]
        orders = {o.symbol: o for o in s.scalars(select(ExchangeOrder))}
        assert sorted(orders) == ["SOLUSDT", "USDTINR"]
        for order in orders.values():
            remote = deps.exchanges[order.venue].get_order(order.symbol, order.client_order_id)
            assert str(remote.order_id) == order.venue_order_id
        assert get_balance(s, "payout_clearing:INR").balance == 0
        check_invariants(s)
    sold_sol = sol_before - deps.exchanges["binance"].balances()["SOL"].total
    sold_usdt = usdt_inr_before - deps.exchanges["inr"].balances()["USDT"].total
    assert sold_sol == Decimal(orders["SOLUSDT"].filled_qty) / 10**9
    assert sold_usdt == Decimal(orders["USDTINR"].filled_qty) / 10**6


def test_a_stall_point_hangs_on_its_nth_hit_and_says_so(tmp_path: Path) -> None:
    from wallet.settlement.crash import STALL_DIR_ENV, STALL_ENV, STALLED_FILE

    stall_dir = tmp_path / "stall"
    script = (
        "from wallet.settlement.crash import crash_point\n"
        "for _ in range(2): crash_point('after_sell')\n"  # another point: not counted
        "for i in range(3): print(i, flush=True); crash_point('after_payout_call')\n"
    )
    env = {**os.environ, STALL_ENV: "after_payout_call:2", STALL_DIR_ENV: str(stall_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert [proc.stdout.readline().strip() for _ in range(2)] == ["0", "1"]
        deadline = time.monotonic() + 60
        while not (stall_dir / STALLED_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (stall_dir / STALLED_FILE).read_text() == str(proc.pid)
        assert proc.poll() is None  # hung at the second hit, never reached the third
    finally:
        proc.kill()
        proc.wait(10)
