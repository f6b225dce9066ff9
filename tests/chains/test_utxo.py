"""Bitcoin and Dogecoin deposits, reorgs, RBF and double spends, and sends, against the
real UTXO regtest stand-in (blocks only when mined)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sandbox.utxo.testing import start_utxo, stop_utxo
from tests.chains.helpers import Custody, make_custody
from wallet.assets import Chain
from wallet.chains.base import Purpose, TransferIntent
from wallet.chains.broadcast import refresh, send
from wallet.chains.models import BroadcastStatus
from wallet.chains.networks import NetworkKind, network
from wallet.chains.scanner import record_observations, scan_until_head
from wallet.chains.utxo import UtxoAdapter
from wallet.custody.deposits import ConfirmationPolicy, process_deposits
from wallet.custody.errors import ChainError
from wallet.db.models.chain import ChainObservation, Credit
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance, user_wallet

CONFS = 2
POLICY = ConfirmationPolicy({"BTC": CONFS, "DOGE": CONFS})
RBF = 0xFFFFFFFD


def _start(tmp: pytest.TempPathFactory, network_name: str) -> Iterator[dict[str, Any]]:
    proc, info = start_utxo(tmp.mktemp(network_name), network_name)
    try:
        yield info
    finally:
        stop_utxo(proc)


@pytest.fixture(scope="module")
def btc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield from _start(tmp_path_factory, "bitcoin")


@pytest.fixture(scope="module")
def doge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield from _start(tmp_path_factory, "dogecoin")


def rpc_url(info: dict[str, Any]) -> str:
    return str(next(v for k, v in info["settings"].items() if k.endswith("_rpc_url")))


def make_adapter(info: dict[str, Any], chain: Chain, **kw: Any) -> UtxoAdapter:
    return UtxoAdapter(rpc_url(info), network(chain, NetworkKind.SANDBOX), **kw)


@pytest.fixture
def world(tmp_path: Path) -> Custody:
    return make_custody(tmp_path / "w.db", {"BTC": 10**8, "DOGE": 10**12})


class Admin:
    def __init__(self, info: dict[str, Any]) -> None:
        self.http = httpx.Client(base_url=info["url"], timeout=60)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = self.http.post(path, json=body)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())


def cycle(world: Custody, adapter: UtxoAdapter, start: int) -> Any:
    scan_until_head(world.factory, adapter, start_height=start)
    return process_deposits(world.factory, adapter, POLICY)


def credits(world: Custody) -> list[Credit]:
    with transaction(world.factory) as s:
        return list(s.scalars(select(Credit)))


@pytest.mark.parametrize("chain", [Chain.BITCOIN, Chain.DOGECOIN])
def test_deposit_detected_confirmed_credited(
    chain: Chain, world: Custody, btc: dict[str, Any], doge: dict[str, Any]
) -> None:
    info = btc if chain is Chain.BITCOIN else doge
    asset = "BTC" if chain is Chain.BITCOIN else "DOGE"
    adapter = make_adapter(info, chain)
    admin = Admin(info)
    start = adapter.head().height + 1
    uid = world.user(f"{asset.lower()}@example.com")
    addr = world.address(chain, uid)
    assert addr.startswith("bcrt1q" if chain is Chain.BITCOIN else "n")
    admin.post(
        "/__sandbox/fund", {"address": addr, "asset": asset, "amount": "1.5", "confirm": False}
    )
    detected = adapter.scan_mempool({addr})
    assert [(o.amount_minor, o.status.value) for o in detected] == [(150_000_000, "mempool")]
    record_observations(world.factory, detected)
    assert cycle(world, adapter, start).credited == []  # 0-conf never credits
    admin.post("/__sandbox/mine", {"blocks": 1})
    waiting = cycle(world, adapter, start)
    # One confirmation of POLICY's two: it can be credited at the next height, not before.
    assert (waiting.pending, waiting.confirm_height) == (1, adapter.head().height + 1)
    admin.post("/__sandbox/mine", {"blocks": 1})
    report = cycle(world, adapter, start)
    assert [c.amount_minor for c in report.credited] == [150_000_000]
    assert cycle(world, adapter, start).credited == []
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, asset)).balance == 150_000_000
        check_invariants(s)
    assert adapter.balance(addr, asset) == 150_000_000


def test_reorg_before_credit_then_reinclusion_and_reorg_after_credit(
    world: Custody, btc: dict[str, Any]
) -> None:
    adapter = make_adapter(btc, Chain.BITCOIN)
    admin = Admin(btc)
    start = adapter.head().height + 1
    uid = world.user("reorg@example.com")
    addr = world.address(Chain.BITCOIN, uid)
    dropped = admin.post("/__sandbox/fund", {"address": addr, "asset": "BTC", "amount": "0.1"})
    cycle(world, adapter, start)
    admin.post("/__sandbox/reorg", {"depth": 1, "drop_txs": True})  # gone for good
    admin.post("/__sandbox/mine", {"blocks": 3})
    assert cycle(world, adapter, start).credited == []

    kept = admin.post("/__sandbox/fund", {"address": addr, "asset": "BTC", "amount": "0.2"})
    cycle(world, adapter, start)
    admin.post("/__sandbox/reorg", {"depth": 1, "drop_txs": False})  # re-mined in the new branch
    admin.post("/__sandbox/mine", {"blocks": 2})
    report = cycle(world, adapter, start)
    assert [(c.txid, c.amount_minor) for c in report.credited] == [(kept["txid"], 20_000_000)]
    assert {c.txid for c in credits(world)} == {kept["txid"]}
    assert dropped["txid"] != kept["txid"]

    admin.post("/__sandbox/reorg", {"depth": 6, "drop_txs": True})
    report = cycle(world, adapter, start)
    assert len(report.reversed) == 1
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, "BTC")).balance == 0
        check_invariants(s)


def _payer_tx(key: Any, coin: tuple[str, int, int], pays: list[tuple[str, int]]) -> str:
    from bitcoinlib.transactions import Transaction

    tx = Transaction(network="regtest", witness_type="segwit")
    tx.add_input(coin[0], coin[1], keys=key, value=coin[2], witness_type="segwit", sequence=RBF)
    for address, value in pays:
        tx.add_output(value, address=address)
    tx.sign(key)
    return str(tx.raw_hex())


def test_rbf_replacement_paying_us_nothing_and_a_double_spend_credit_at_most_once(
    world: Custody, btc: dict[str, Any]
) -> None:
    from bitcoinlib.keys import Key

    adapter = make_adapter(btc, Chain.BITCOIN)
    admin = Admin(btc)
    start = adapter.head().height + 1
    ours = world.address(Chain.BITCOIN, world.user("rbf@example.com"))
    payer = Key(network="regtest", compressed=True)
    payer_addr = payer.address(encoding="bech32")
    funded = [
        admin.post("/__sandbox/fund", {"address": payer_addr, "asset": "BTC", "amount": "1"})
        for _ in range(2)
    ]
    coins = [(f["txid"], f["vout"], 100_000_000) for f in funded]

    # 1. RBF: A pays us, B (same input, higher fee) pays the payer back.
    a = _payer_tx(payer, coins[0], [(ours, 50_000_000), (payer_addr, 49_990_000)])
    a_id = adapter._call("sendrawtransaction", a)
    record_observations(world.factory, adapter.scan_mempool({ours}))
    b = _payer_tx(payer, coins[0], [(payer_addr, 99_950_000)])
    adapter._call("sendrawtransaction", b)
    admin.post("/__sandbox/mine", {"blocks": 3})
    report = cycle(world, adapter, start)
    assert report.credited == []
    with transaction(world.factory) as s:
        statuses = s.scalars(select(ChainObservation.status).where(ChainObservation.txid == a_id))
        assert list(statuses) == ["mempool"]

    # 2. Double spend across a reorg: C pays us and is mined; the reorg drops it and D,
    #    spending the same coin, pays us from another transaction.
    c = _payer_tx(payer, coins[1], [(ours, 30_000_000), (payer_addr, 69_990_000)])
    c_id = adapter._call("sendrawtransaction", c)
    admin.post("/__sandbox/mine", {"blocks": 1})
    cycle(world, adapter, start)
    admin.post("/__sandbox/reorg", {"depth": 1, "drop_txs": [c_id]})
    d = _payer_tx(payer, coins[1], [(ours, 30_000_000), (payer_addr, 69_980_000)])
    d_id = adapter._call("sendrawtransaction", d)
    admin.post("/__sandbox/mine", {"blocks": 3})
    report = cycle(world, adapter, start)
    assert [(c.txid, c.amount_minor) for c in credits(world)] == [(d_id, 30_000_000)]
    assert c_id != d_id


def test_withdrawal_is_signed_once_and_confirmed(world: Custody, btc: dict[str, Any]) -> None:
    from bitcoinlib.keys import Key

    adapter = make_adapter(btc, Chain.BITCOIN)
    admin = Admin(btc)
    hot = world.platform(Chain.BITCOIN)
    admin.post("/__sandbox/fund", {"address": hot, "asset": "BTC", "amount": "0.5"})
    dest = Key(network="regtest", compressed=True).address(encoding="bech32")
    intent = TransferIntent(
        "btc-wd-1", Chain.BITCOIN, "BTC", hot, dest, 12_345_678, Purpose.WITHDRAWAL
    )
    first = send(world.factory, adapter, world.signer, intent)
    second = send(world.factory, adapter, world.signer, intent)
    assert second.txid == first.txid and second.status is BroadcastStatus.SENT
    admin.post("/__sandbox/mine", {"blocks": 1})
    assert (
        refresh(world.factory, adapter, "btc-wd-1", confirmations=1).status
        is BroadcastStatus.CONFIRMED
    )
    assert adapter.balance(dest, "BTC") == 12_345_678
    change = adapter.balance(hot, "BTC")
    assert 50_000_000 - 12_345_678 - 10_000 < change < 50_000_000 - 12_345_678


class CountingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return super().handle_request(request)


@pytest.mark.slow
def test_scan_cost_is_independent_of_the_number_of_watched_addresses(
    btc: dict[str, Any], world: Custody
) -> None:
    from bitcoinlib.keys import Key

    adapter = make_adapter(btc, Chain.BITCOIN)
    admin = Admin(btc)
    start = adapter.head().height + 1
    real = world.address(Chain.BITCOIN, world.user("count@example.com"))
    admin.post("/__sandbox/fund", {"address": real, "asset": "BTC", "amount": "0.3"})
    admin.post("/__sandbox/mine", {"blocks": 999})
    counts = []
    for n in (10, 10_000):
        fake = {Key(network="regtest").address(encoding="bech32") for _ in range(min(n, 50))}
        watched = {real} | fake | {f"bcrt1qfake{i}" for i in range(n - 1 - len(fake))}
        transport = CountingTransport()
        counted = make_adapter(btc, Chain.BITCOIN, transport=transport)
        result = counted.scan(start, start + 999, watched)
        assert len(result.blocks) == 1000 and [o.amount_minor for o in result.observations] == [
            30_000_000
        ]
        counts.append(transport.calls)
    assert counts[0] == counts[1] == 20  # 10 batches of getblockhash + 10 of getblock


def test_block_hashes_come_in_one_batch_and_only_past_the_tip_is_none(
    btc: dict[str, Any],
) -> None:
    requests: list[str] = []
    adapter = make_adapter(btc, Chain.BITCOIN)
    adapter._http.event_hooks["request"].append(lambda request: requests.append(request.method))
    tip = adapter.head().height
    heights = [tip - 2, tip - 1, tip, tip + 5]
    requests.clear()
    hashes = adapter.block_hashes(heights)
    assert len(requests) == 1
    assert hashes == {h: adapter.block_hash(h) for h in heights[:3]} | {tip + 5: None}
    assert hashes[tip] == adapter.head().hash

    down = UtxoAdapter("http://127.0.0.1:9", network(Chain.BITCOIN, NetworkKind.SANDBOX))
    with pytest.raises(ChainError):  # unreachable is an error, never "no such block"
        down.block_hash(tip)
