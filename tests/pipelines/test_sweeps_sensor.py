"""The sweep sensor with build_sensor_context, wired from settings like the code location.

Real settings (master key, anvil's URL and tokens, custody's sweep minimum),
the real signer and adapters the sensor builds itself, the Ethereum stand-in:
an idle tick builds nothing and is one statement; a payer funded like
``taskforce run``'s demo payer (ETH and USDC on their own deposit address)
is swept into the empty hot wallet — no user's balance moves, only fees are
booked — and the withdrawal sensor then pays that payer's ETH and USDC
withdrawals from it. The code location runs it in the housekeeping tick.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from eth_account import Account
from pydantic import SecretStr
from sqlalchemy import event, select

import pipelines.resources
from pipelines.resources import WalletDatabase
from sensors import sweeps as sweeper
from sensors import withdrawals as worker
from tests.chains.eth_fixtures import admin, eth
from tests.chains.helpers import Custody, make_custody
from tests.webapp.conftest import settings_for
from wallet.assets import Chain
from wallet.chains.evm import EvmAdapter
from wallet.chains.networks import NetworkKind, network
from wallet.custody.deposits import ConfirmationPolicy
from wallet.custody.models import CustodySweep, SweepKind, SweepStatus
from wallet.custody.service import scan_chain
from wallet.custody.sweep_worker import SweepWatch
from wallet.custody.withdrawals import WithdrawalLimits, request_withdrawal
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance, user_wallet

__all__ = ["admin", "eth"]  # fixtures

LIMITS = WithdrawalLimits(minimum={"ETH": 1, "USDC": 1}, maximum={"ETH": 10**20, "USDC": 10**12})
POLICY = ConfirmationPolicy({"ETH": 1, "USDC": 1})


@pytest.fixture
def adapter(eth: dict[str, Any]) -> Iterator[EvmAdapter]:
    built = EvmAdapter(eth["url"], dict(eth["settings"]["token_contracts"]), chain_id=31337)
    yield built
    built.close()


@pytest.fixture
def wired(
    eth: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Custody, WalletDatabase]]:
    """Custody seeds under a master key, and the settings both sensors build from."""
    world = make_custody(tmp_path / "w.db")
    url = f"sqlite:///{tmp_path / 'w.db'}"
    settings = settings_for(
        tmp_path,
        url,
        wallet_master_key=SecretStr(base64.b64encode(world.master).decode()),
        eth_rpc_url=eth["url"],
        token_contracts=dict(eth["settings"]["token_contracts"]),
        custody_confirmations={"ETH": 1, "USDC": 1},
        custody_sweep_min={"ETH": 10**16, "USDC": 10**6},
    )
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: settings)
    monkeypatch.setattr(sweeper, "_deps", sweeper.SettingsSweepDeps())
    monkeypatch.setattr(sweeper, "_watch", SweepWatch())
    monkeypatch.setattr(worker, "_deps", worker.SettingsDeps())
    yield world, WalletDatabase(database_url=url)
    sweeper._deps._close()
    worker._deps._close()


def _sweep(db: WalletDatabase) -> str:
    result = sweeper.sweeps_sensor(dg.build_sensor_context(resources={"db": db}))
    assert isinstance(result, dg.SkipReason)
    return result.skip_message or ""


def _withdraw_tick(db: WalletDatabase) -> str:
    result = worker.withdrawals_sensor(dg.build_sensor_context(resources={"db": db}))
    assert isinstance(result, dg.SkipReason)
    return result.skip_message or ""


def _balances(world: Custody, uid: int) -> dict[str, tuple[int, int]]:
    with world.factory() as s:
        out = {}
        for asset in ("ETH", "USDC"):
            b = get_balance(s, user_wallet(uid, asset))
            out[asset] = (b.balance, b.held)
        return out


def _hot_books(world: Custody) -> dict[str, int]:
    with world.factory() as s:
        return {a: get_balance(s, f"hot:ethereum:{a}").balance for a in ("ETH", "USDC")}


def test_demo_payer_is_swept_into_the_hot_wallet_which_then_pays_their_withdrawals(
    wired: tuple[Custody, WalletDatabase], adapter: EvmAdapter, admin: httpx.Client
) -> None:
    world, db = wired
    assert _sweep(db) == "sweeps: nothing to sweep"
    assert sweeper._deps._deps is None  # an idle tick built no signer and no adapter

    # taskforce run's bootstrap: the demo payer's own deposit address is funded on chain.
    scan_chain(world.factory, Chain.ETHEREUM, None, adapter=adapter, policy=POLICY)  # cursor
    uid = world.user(f"demo-{uuid.uuid4().hex[:8]}@example.com")
    deposit = world.address(Chain.ETHEREUM, uid)
    for asset, amount in (("ETH", "2"), ("USDC", "500")):
        reply = admin.post("/__sandbox/fund", json={"address": deposit, "asset": asset,
                                                    "amount": amount})  # fmt: skip
        assert reply.status_code == 200, reply.text
    scan_chain(world.factory, Chain.ETHEREUM, None, adapter=adapter, policy=POLICY)
    before = _balances(world, uid)
    assert before == {"ETH": (2 * 10**18, 0), "USDC": (500 * 10**6, 0)}
    hot = world.platform(Chain.ETHEREUM)
    assert adapter.balance(hot, "ETH") == 0 and adapter.balance(hot, "USDC") == 0

    ticks = []
    for _ in range(4):  # tokens first (paying their own gas), then the ETH; then quiet
        ticks.append(_sweep(db))
    assert "confirmed=1" in ticks[0] and "confirmed=1" in ticks[1], ticks
    assert ticks[3] == "sweeps: nothing to sweep", ticks
    with world.factory() as s:
        sweeps = s.scalars(select(CustodySweep).order_by(CustodySweep.id)).all()
        assert [(w.asset, w.kind, w.status) for w in sweeps] == [
            ("USDC", SweepKind.SWEEP, SweepStatus.CONFIRMED),
            ("ETH", SweepKind.SWEEP, SweepStatus.CONFIRMED),
        ]
        fees = sum(w.fee_minor for w in sweeps)
    assert adapter.balance(hot, "USDC") == 500 * 10**6
    assert adapter.balance(hot, "ETH") > 19 * 10**17
    # A move between our own addresses: no user's balance changed; our ETH holding
    # fell by exactly the fees the two sweeps burned, and the books agree with the chain.
    assert _balances(world, uid) == before
    books = _hot_books(world)
    assert books == {"ETH": 2 * 10**18 - fees, "USDC": 500 * 10**6}
    on_chain = adapter.balance(hot, "ETH") + adapter.balance(deposit, "ETH")
    assert on_chain == books["ETH"]

    statements: list[str] = []
    engine = db.factory().kw["bind"]  # the engine the sensor uses

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert _sweep(db) == "sweeps: nothing to sweep"
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    queries = [q for q in statements if not q.startswith("BEGIN")]
    assert len(queries) == 1 and "custody_sweeps" in queries[0] and "credits" in queries[0]

    # The payer withdraws both; the hot wallet pays (and pays the gas).
    net = network(Chain.ETHEREUM, NetworkKind.SANDBOX)
    payees = {}
    with transaction(world.factory) as s:
        for asset, amount in (("ETH", 5 * 10**17), ("USDC", 120 * 10**6)):
            to = Account.create().address
            request_withdrawal(
                s, key=f"demo-{asset}-{uuid.uuid4().hex[:6]}", user_id=uid, net=net,
                asset=asset, to_address=to, amount_minor=amount, limits=LIMITS,
            )  # fmt: skip
            payees[asset] = (to, amount)
    assert _withdraw_tick(db) == "withdrawals: sent=2 posted=2 failed=0 pending=0"
    for asset, (to, amount) in payees.items():
        assert adapter.balance(to, asset) == amount
    assert _balances(world, uid) == {"ETH": (15 * 10**17, 0), "USDC": (380 * 10**6, 0)}
    with world.factory() as s:
        check_invariants(s)
        done = s.scalars(select(CustodySweep.status)).all()
    assert done == [SweepStatus.CONFIRMED] * 2  # paying out planned no sweep back


def test_the_code_location_runs_it_in_the_housekeeping_tick() -> None:
    from pipelines.definitions import defs

    housekeeping = defs.get_sensor_def("housekeeping_sensor")
    assert "sweeps_sensor" in (housekeeping.description or "")
