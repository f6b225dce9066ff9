"""A Bitcoin sweep consolidates every coin of a deposit address into one output, against
the real UTXO regtest stand-in (blocks only when mined)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.utxo.testing import start_utxo, stop_utxo
from tests.chains.helpers import make_custody
from wallet.assets import Chain
from wallet.chains.networks import NetworkKind, network
from wallet.chains.utxo import UtxoAdapter
from wallet.custody.config import CustodyConfig
from wallet.custody.deposits import ConfirmationPolicy
from wallet.custody.models import SweepStatus
from wallet.custody.service import scan_chain
from wallet.custody.sweeps import get_sweep, run_sweeps
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance, user_wallet

POLICY = ConfirmationPolicy({"BTC": 2})
CFG = CustodyConfig(sweep_min={"BTC": 10_000})


@pytest.fixture(scope="module")
def btc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc, info = start_utxo(tmp_path_factory.mktemp("btc"), "bitcoin")
    try:
        yield info
    finally:
        stop_utxo(proc)


def test_btc_sweep_consolidates_every_coin_into_one_output(
    btc: dict[str, Any], tmp_path: Path
) -> None:
    url = next(v for k, v in btc["settings"].items() if k.endswith("_rpc_url"))
    adapter = UtxoAdapter(url, network(Chain.BITCOIN, NetworkKind.SANDBOX))
    admin = httpx.Client(base_url=btc["url"], timeout=60)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = admin.post(path, json=body)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    world = make_custody(tmp_path / "w.db", {"BTC": 10**8})
    hot = world.platform(Chain.BITCOIN)

    def tick() -> Any:
        return scan_chain(world.factory, Chain.BITCOIN, None, adapter=adapter, policy=POLICY)

    tick()
    uid = world.user("btc-sweep@example.com")
    addr = world.address(Chain.BITCOIN, uid)
    for amount in ("0.1", "0.2", "0.3"):
        post("/__sandbox/fund", {"address": addr, "asset": "BTC", "amount": amount})
    post("/__sandbox/mine", {"blocks": 2})
    assert len(tick().credited) == 3
    assert len(adapter.coins(addr)) == 3

    first = run_sweeps(world.factory, adapter, world.signer, CFG)
    (key,) = first.planned
    assert first.statuses[key] is SweepStatus.SENT  # in the mempool
    post("/__sandbox/mine", {"blocks": 1})
    assert run_sweeps(world.factory, adapter, world.signer, CFG).statuses[key] is (
        SweepStatus.CONFIRMED
    )

    post("/__sandbox/mine", {"blocks": 2})
    after = tick()
    assert after.observed == 1 and after.credited == []  # our own sweep is not a deposit
    sweep = get_sweep(world.factory, key)
    assert sweep.amount_minor is not None
    coins = adapter.coins(hot)
    assert [c.value for c in coins] == [sweep.amount_minor]  # one output, no change
    tx = adapter._call("getrawtransaction", coins[0].txid, True)
    assert len(tx["vin"]) == 3 and len(tx["vout"]) == 1
    fee = 60_000_000 - sweep.amount_minor
    assert adapter.balance(addr, "BTC") == 0
    with transaction(world.factory) as s:
        assert get_balance(s, "expense:network_fees:BTC").balance == fee > 0
        assert get_balance(s, "hot:bitcoin:BTC").balance == 60_000_000 - fee
        assert get_balance(s, user_wallet(uid, "BTC")).balance == 60_000_000
        check_invariants(s)
    admin.close()
    adapter.close()
