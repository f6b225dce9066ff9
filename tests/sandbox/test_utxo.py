"""The Bitcoin/Dogecoin regtest stand-in, over real HTTP JSON-RPC with Basic auth.

Keys and transactions are made with bitcoinlib exactly as the product makes
them; the stand-in runs as a subprocess (sandbox.utxo.testing.start_utxo).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from bitcoinlib.keys import Key
from bitcoinlib.transactions import Transaction

from sandbox.utxo.testing import start_utxo, stop_utxo

BTC_NET = "regtest"
DOGE_NET = "dogecoin_testnet"
FINAL = 0xFFFFFFFF
RBF = 0xFFFFFFFD
BITCOIN_REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
DOGECOIN_REGTEST_GENESIS = "3d2160a3b5dc4a9d62e7e66a295f70313ac808440ef7400d6c0772171ce973a5"


class RpcFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Node:
    """A minimal Bitcoin Core JSON-RPC client (amounts parsed as Decimal)."""

    def __init__(self, info: dict[str, Any]) -> None:
        creds = info["credentials"]
        self.info = info
        self.http = httpx.Client(
            base_url=info["url"], auth=(creds["user"], creds["password"]), timeout=30
        )
        self.last_text = ""

    def __call__(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "1.0", "id": "test", "method": method, "params": list(params)}
        answer = self.http.post("/", json=body)
        self.last_text = answer.text
        reply = answer.json(parse_float=Decimal)
        if reply["error"] is not None:
            assert answer.status_code in (404, 500)
            raise RpcFailure(reply["error"]["code"], reply["error"]["message"])
        assert answer.status_code == 200
        return reply["result"]

    def admin(self, path: str, **body: Any) -> httpx.Response:
        return self.http.post(f"/__sandbox/{path}", json=body)

    def fund(self, address: str, amount: str, asset: str = "BTC", **extra: Any) -> dict[str, Any]:
        answer = self.admin("fund", address=address, asset=asset, amount=amount, **extra)
        assert answer.status_code == 200, answer.text
        return answer.json()


def _key(label: str, network: str = BTC_NET) -> Key:
    return Key(hashlib.sha256(f"utxo-test/{label}".encode()).digest(), network=network)


def _p2wpkh(key: Key) -> str:
    return str(key.address(encoding="bech32", script_type="p2wpkh"))


def _spend(
    key: Key,
    prev: tuple[str, int, int],
    outputs: list[tuple[str, int]],
    *,
    sequence: int = FINAL,
    network: str = BTC_NET,
) -> Transaction:
    """A bitcoinlib-signed spend of one (txid, vout, value) coin owned by ``key``."""
    witness_type = "segwit" if network == BTC_NET else "legacy"
    tx = Transaction(network=network, witness_type=witness_type)
    tx.add_input(
        prev[0], prev[1], keys=key, value=prev[2], witness_type=witness_type, sequence=sequence
    )
    for address, value in outputs:
        tx.add_output(value, address=address)
    tx.sign(key)
    return tx


def _funded_coin(node: Node, key: Key, amount: str, **extra: Any) -> tuple[str, int, int]:
    address = _p2wpkh(key)
    funded = node.fund(address, amount, **extra)
    return funded["txid"], funded["vout"], int(Decimal(amount) * 100_000_000)


@pytest.fixture(scope="module")
def btc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    proc, info = start_utxo(tmp_path_factory.mktemp("btc"), "bitcoin")
    node = Node(info)
    try:
        yield node
    finally:
        node.http.close()
        stop_utxo(proc)
    assert proc.returncode is not None


@pytest.fixture(scope="module")
def doge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    proc, info = start_utxo(Path(tmp_path_factory.mktemp("doge")), "dogecoin")
    node = Node(info)
    try:
        yield node
    finally:
        node.http.close()
        stop_utxo(proc)


def test_health_info_matches_the_contract(btc: Node) -> None:
    health = btc.http.get("/__sandbox/health").json()
    assert health["ok"] is True
    assert health["head"] == btc("getblockcount") >= 101
    url = btc.info["settings"]["btc_rpc_url"]
    assert url == btc.info["url"].replace("http://", "http://sandbox:sandbox@")


def test_wrong_basic_auth_is_401(btc: Node) -> None:
    body = {"jsonrpc": "1.0", "id": 1, "method": "getblockcount", "params": []}
    wrong = httpx.post(btc.info["url"], json=body, auth=("sandbox", "nope"))
    missing = httpx.post(btc.info["url"], json=body)
    assert wrong.status_code == missing.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert btc("getblockcount") >= 101


def test_unknown_method_and_jsonrpc_2(btc: Node) -> None:
    with pytest.raises(RpcFailure) as failure:
        btc("getwalletinfo")
    assert failure.value.code == -32601
    answer = btc.http.post("/", json={"jsonrpc": "2.0", "id": 9, "method": "getbestblockhash"})
    assert answer.status_code == 200
    assert answer.json() == {"jsonrpc": "2.0", "result": btc("getbestblockhash"), "id": 9}
    missing = btc.http.post(
        "/", json={"jsonrpc": "2.0", "id": 3, "method": "getblockhash", "params": [10**6]}
    )
    assert missing.json()["error"]["code"] == -8


def test_fund_shows_up_in_next_block_and_scantxoutset(btc: Node) -> None:
    key = _key("fund")
    address = _p2wpkh(key)
    funded = btc.fund(address, "0.5")
    block = btc("getblock", funded["blockhash"], 2)
    assert '"value":0.50000000' in btc.last_text  # exact decimal, not a float repr
    assert block["height"] == btc("getblockcount") and block["confirmations"] == 1
    tx = next(t for t in block["tx"] if t["txid"] == funded["txid"])
    out = tx["vout"][funded["vout"]]
    assert out["scriptPubKey"]["address"] == address
    assert out["scriptPubKey"]["type"] == "witness_v0_keyhash"
    assert out["value"] == Decimal("0.50000000")
    assert tx["fee"] > 0
    assert block["tx"][0]["vin"][0]["coinbase"]  # coinbase first, pays subsidy + fees

    scan = btc("scantxoutset", "start", [f"addr({address})"])
    assert scan["success"] is True
    assert [(u["txid"], u["vout"], u["amount"], u["height"]) for u in scan["unspents"]] == [
        (funded["txid"], funded["vout"], Decimal("0.5"), block["height"])
    ]


def test_spend_signed_by_bitcoinlib_is_accepted_and_mined(btc: Node) -> None:
    key = _key("spender")
    coin = _funded_coin(btc, key, "0.01")
    dest = _p2wpkh(_key("spender-dest"))
    tx = _spend(key, coin, [(dest, coin[2] - 1_000)])
    txid = btc("sendrawtransaction", tx.raw_hex())
    assert txid in btc("getrawmempool")
    assert btc("getmempoolentry", txid)["fees"]["base"] == Decimal("0.00001000")
    [blockhash] = btc("generatetoaddress", 1, dest)
    verbose = btc("getrawtransaction", txid, True)
    assert (verbose["blockhash"], verbose["confirmations"]) == (blockhash, 1)
    assert btc("scantxoutset", "start", [f"addr({_p2wpkh(key)})"])["unspents"] == []
    assert txid not in btc("getrawmempool")


def test_invalid_signature_is_rejected(btc: Node) -> None:
    key = _key("badsig")
    coin = _funded_coin(btc, key, "0.01")
    tx = _spend(key, coin, [(_p2wpkh(key), coin[2] - 1_000)])
    tx.outputs[0].value -= 500  # changes what was signed; the witness stays
    with pytest.raises(RpcFailure) as failure:
        btc("sendrawtransaction", tx.raw_hex())
    assert failure.value.code == -26
    assert failure.value.message.startswith("mandatory-script-verify-flag-failed")
    thief = _spend(_key("thief"), coin, [(_p2wpkh(key), coin[2] - 1_000)])
    with pytest.raises(RpcFailure) as stolen:
        btc("sendrawtransaction", thief.raw_hex())
    assert stolen.value.code == -26
    [verdict] = btc("testmempoolaccept", [tx.raw_hex()])
    assert verdict["allowed"] is False


def test_missing_or_spent_input_is_minus_25(btc: Node) -> None:
    key = _key("missing")
    ghost = _spend(key, ("ab" * 32, 0, 100_000), [(_p2wpkh(key), 90_000)])
    with pytest.raises(RpcFailure) as failure:
        btc("sendrawtransaction", ghost.raw_hex())
    assert (failure.value.code, failure.value.message) == (-25, "bad-txns-inputs-missingorspent")

    coin = _funded_coin(btc, key, "0.01")
    first = _spend(key, coin, [(_p2wpkh(_key("m1")), coin[2] - 1_000)])
    btc("sendrawtransaction", first.raw_hex())
    btc("generatetoaddress", 1, _p2wpkh(key))
    again = _spend(key, coin, [(_p2wpkh(_key("m2")), coin[2] - 2_000)])
    with pytest.raises(RpcFailure) as spent:
        btc("sendrawtransaction", again.raw_hex())
    assert spent.value.code == -25
    [verdict] = btc("testmempoolaccept", [again.raw_hex()])
    assert verdict["reject-reason"] == "missing-inputs"


def test_double_spend_without_rbf_is_a_mempool_conflict(btc: Node) -> None:
    key = _key("norbf")
    coin = _funded_coin(btc, key, "0.01")
    first = _spend(key, coin, [(_p2wpkh(_key("n1")), coin[2] - 1_000)], sequence=FINAL)
    first_id = btc("sendrawtransaction", first.raw_hex())
    rival = _spend(key, coin, [(_p2wpkh(_key("n2")), coin[2] - 50_000)], sequence=FINAL)
    with pytest.raises(RpcFailure) as failure:
        btc("sendrawtransaction", rival.raw_hex())
    assert (failure.value.code, failure.value.message) == (-26, "txn-mempool-conflict")
    assert first_id in btc("getrawmempool")


def test_rbf_replacement_paying_more_evicts_the_original(btc: Node) -> None:
    key = _key("rbf")
    coin = _funded_coin(btc, key, "0.01")
    original = _spend(key, coin, [(_p2wpkh(_key("r1")), coin[2] - 1_000)], sequence=RBF)
    original_id = btc("sendrawtransaction", original.raw_hex())
    assert btc("getmempoolentry", original_id)["bip125-replaceable"] is True

    cheaper = _spend(key, coin, [(_p2wpkh(_key("r2")), coin[2] - 900)], sequence=RBF)
    with pytest.raises(RpcFailure) as failure:
        btc("sendrawtransaction", cheaper.raw_hex())
    assert failure.value.code == -26
    assert failure.value.message.startswith("insufficient fee")

    replacement = _spend(key, coin, [(_p2wpkh(_key("r2")), coin[2] - 5_000)], sequence=RBF)
    replacement_id = btc("sendrawtransaction", replacement.raw_hex())
    pool = btc("getrawmempool")
    assert replacement_id in pool and original_id not in pool
    with pytest.raises(RpcFailure) as gone:
        btc("getrawtransaction", original_id, True)
    assert gone.value.code == -5


def test_invalidateblock_returns_the_tx_to_the_mempool(btc: Node) -> None:
    key = _key("reorg")
    funded = btc.fund(_p2wpkh(key), "0.2")
    height = btc("getblockcount")
    assert btc("getrawtransaction", funded["txid"], 1)["confirmations"] == 1

    assert btc("invalidateblock", funded["blockhash"]) is None
    assert btc("getblockcount") == height - 1
    assert funded["txid"] in btc("getrawmempool")
    verbose = btc("getrawtransaction", funded["txid"], 1)
    assert "blockhash" not in verbose and verbose.get("confirmations", 0) == 0
    assert btc("getblock", funded["blockhash"])["confirmations"] == -1

    [new_block] = btc("generatetoaddress", 1, _p2wpkh(key))
    assert new_block != funded["blockhash"]
    verbose = btc("getrawtransaction", funded["txid"], 1)
    assert (verbose["blockhash"], verbose["confirmations"]) == (new_block, 1)


def test_reorg_admin_can_drop_a_confirmed_tx(btc: Node) -> None:
    funded = btc.fund(_p2wpkh(_key("dropped")), "0.3")
    height = btc("getblockcount")
    answer = btc.admin("reorg", depth=1, drop_txs=True)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["dropped_txids"] == [funded["txid"]]
    assert btc("getblockcount") == height + 1
    with pytest.raises(RpcFailure) as gone:
        btc("getrawtransaction", funded["txid"], 1)
    assert gone.value.code == -5
    tips = {t["hash"]: t["status"] for t in btc("getchaintips")}
    assert tips[funded["blockhash"]] == "invalid"


def test_fee_and_maturity_rules(btc: Node) -> None:
    key = _key("rules")
    coin = _funded_coin(btc, key, "0.01")
    free = _spend(key, coin, [(_p2wpkh(key), coin[2])])
    with pytest.raises(RpcFailure) as failure:
        btc("sendrawtransaction", free.raw_hex())
    assert failure.value.message.startswith("min relay fee not met")

    [blockhash] = btc("generatetoaddress", 1, _p2wpkh(key))
    coinbase = btc("getblock", blockhash, 2)["tx"][0]
    value = int(coinbase["vout"][0]["value"] * 100_000_000)
    early = _spend(key, (coinbase["txid"], 0, value), [(_p2wpkh(key), value - 10_000)])
    with pytest.raises(RpcFailure) as immature:
        btc("sendrawtransaction", early.raw_hex())
    assert immature.value.message.startswith("bad-txns-premature-spend-of-coinbase")


def test_fund_rejects_bad_input(btc: Node) -> None:
    doge_address = _key("x", DOGE_NET).address()
    cases = [
        ({"address": doge_address, "asset": "BTC", "amount": "1"}, "invalid_address"),
        ({"address": _p2wpkh(_key("x")), "asset": "DOGE", "amount": "1"}, "unsupported_asset"),
        (
            {"address": _p2wpkh(_key("x")), "asset": "BTC", "amount": "0.000000001"},
            "invalid_amount",
        ),
        ({"address": _p2wpkh(_key("x")), "asset": "BTC", "amount": 0.5}, "invalid_amount"),
    ]
    height = btc("getblockcount")
    for body, code in cases:
        answer = btc.http.post("/__sandbox/fund", json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, code)
    assert btc("getblockcount") == height


def test_dogecoin_fund_and_p2pkh_spend(doge: Node) -> None:
    assert "doge_rpc_url" in doge.info["settings"]
    key = _key("doge", DOGE_NET)
    address = key.address()
    assert address.startswith("n")
    funded = doge.fund(address, "250", asset="DOGE", confirm=False)
    assert funded["txid"] in doge("getrawmempool")
    [blockhash] = doge("generatetoaddress", 1, address)
    block = doge("getblock", blockhash, 2)
    out = next(t for t in block["tx"] if t["txid"] == funded["txid"])["vout"][funded["vout"]]
    assert (out["scriptPubKey"]["address"], out["value"]) == (address, Decimal("250"))

    dest = _key("doge-dest", DOGE_NET).address()
    fee = 1_000_000  # 0.01 DOGE
    tx = _spend(
        key,
        (funded["txid"], funded["vout"], 250 * 10**8),
        [(dest, 250 * 10**8 - fee)],
        network=DOGE_NET,
    )
    txid = doge("sendrawtransaction", tx.raw_hex())
    [mined] = doge("generatetoaddress", 1, address)
    assert doge("getrawtransaction", txid, True)["blockhash"] == mined
    unspents = doge("scantxoutset", "start", [f"addr({dest})"])["unspents"]
    assert [(u["txid"], u["amount"]) for u in unspents] == [(txid, Decimal("249.99"))]


def test_bitcoin_p2pkh_spend(btc: Node) -> None:
    """bitcoinlib's regtest encodes P2PKH with prefix 0x00; the node reports Core's m/n form."""
    key = _key("legacy")
    bitcoinlib_address = key.address(encoding="base58", script_type="p2pkh")
    funded = btc.fund(bitcoinlib_address, "0.02")
    tx = btc("getrawtransaction", funded["txid"], 1)
    script = tx["vout"][funded["vout"]]["scriptPubKey"]
    assert script["type"] == "pubkeyhash"
    assert script["address"][0] in "mn"
    assert btc("validateaddress", script["address"])["scriptPubKey"] == script["hex"]

    spend = Transaction(network=BTC_NET, witness_type="legacy")
    spend.add_input(
        funded["txid"], funded["vout"], keys=key, value=2_000_000, witness_type="legacy"
    )
    spend.add_output(1_990_000, address=_p2wpkh(key))
    spend.sign(key)
    txid = btc("sendrawtransaction", spend.raw_hex())
    btc("generatetoaddress", 1, _p2wpkh(key))
    assert btc("getrawtransaction", txid, 1)["confirmations"] == 1


def test_bitcoinlib_bitcoind_client_reads_the_node(btc: Node) -> None:
    """bitcoinlib's own bitcoind provider (AuthServiceProxy) works against the stand-in."""
    from bitcoinlib.services.authproxy import AuthServiceProxy, JSONRPCException
    from bitcoinlib.services.bitcoind import BitcoindClient

    url = btc.info["settings"]["btc_rpc_url"]
    funded = btc.fund(_p2wpkh(_key("client")), "0.07")
    client = BitcoindClient(BTC_NET, url)
    tx = client.gettransaction(funded["txid"])
    assert (tx.confirmations, tx.outputs[funded["vout"]].value) == (1, 7_000_000)
    assert client.getblock(funded["height"])["block_hash"] == funded["blockhash"]
    with pytest.raises(JSONRPCException) as failure:
        AuthServiceProxy(url).getblock("00" * 32)
    assert failure.value.code == -5


def test_genesis_blocks_are_the_real_regtest_ones(btc: Node, doge: Node) -> None:
    """Headers are serialised and hashed exactly as the real chains do."""
    assert btc("getblockhash", 0) == BITCOIN_REGTEST_GENESIS
    assert doge("getblockhash", 0) == DOGECOIN_REGTEST_GENESIS
    header = btc("getblockheader", btc("getbestblockhash"))
    raw = bytes.fromhex(btc("getblockheader", header["hash"], False))
    assert hashlib.sha256(hashlib.sha256(raw).digest()).digest()[::-1].hex() == header["hash"]


def test_fund_is_idempotent_by_key(btc: Node) -> None:
    address = _p2wpkh(_key("idem"))
    first = btc.fund(address, "0.04", idempotency_key="deposit-42")
    height = btc("getblockcount")
    again = btc.fund(address, "0.04", idempotency_key="deposit-42")
    assert again["txid"] == first["txid"]
    assert btc("getblockcount") == height
    unspents = btc("scantxoutset", "start", [{"desc": f"addr({address})"}])["unspents"]
    assert len(unspents) == 1


def test_drop_broadcasts_fault_loses_the_tx(btc: Node) -> None:
    key = _key("lost")
    coin = _funded_coin(btc, key, "0.01")
    tx = _spend(key, coin, [(_p2wpkh(key), coin[2] - 1_000)])
    btc.http.post("/__sandbox/faults", json={"extra": {"drop_broadcasts": True}})
    try:
        txid = btc("sendrawtransaction", tx.raw_hex())
    finally:
        btc.http.post("/__sandbox/faults", json={"clear": True})
    assert txid not in btc("getrawmempool")
    assert btc("sendrawtransaction", tx.raw_hex()) == txid  # a rebroadcast lands
    assert txid in btc("getrawmempool")
