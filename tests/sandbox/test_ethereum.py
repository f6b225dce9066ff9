"""The Ethereum stand-in driven by web3.py over real HTTP: anvil behind our proxy.

One stand-in process (1 s interval mining) serves the whole module; every test
uses fresh accounts of its own so tests do not depend on each other.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import TransactionNotFound

from sandbox.ethereum.testing import start_ethereum, stop_ethereum

ERC20_ABI: list[dict[str, Any]] = json.loads(
    """[
 {"type":"function","name":"transfer","stateMutability":"nonpayable",
  "inputs":[{"name":"to","type":"address"},{"name":"value","type":"uint256"}],
  "outputs":[{"name":"","type":"bool"}]},
 {"type":"function","name":"balanceOf","stateMutability":"view",
  "inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"decimals","stateMutability":"view",
  "inputs":[],"outputs":[{"name":"","type":"uint8"}]},
 {"type":"function","name":"totalSupply","stateMutability":"view",
  "inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"event","name":"Transfer","anonymous":false,
  "inputs":[{"name":"from","type":"address","indexed":true},
            {"name":"to","type":"address","indexed":true},
            {"name":"value","type":"uint256","indexed":false}]}
]"""
)
GWEI = 10**9
BAD_CHECKSUM = "0x70997970C51812dc3A010C7d01b50e0d17dc79C9"
ETH = 10**18


@pytest.fixture(scope="module")
def eth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc, info = start_ethereum(tmp_path_factory.mktemp("ethereum"), block_time=1)
    try:
        yield info
    finally:
        stop_ethereum(proc)


@pytest.fixture(scope="module")
def w3(eth: dict[str, Any]) -> Web3:
    return Web3(Web3.HTTPProvider(eth["url"], request_kwargs={"timeout": 30}))


@pytest.fixture()
def clear_faults(eth: dict[str, Any]) -> Iterator[None]:
    yield
    httpx.post(f"{eth['url']}/__sandbox/faults", json={"clear": True}).raise_for_status()


def account(name: str) -> LocalAccount:
    """A fresh, reproducible key per test (never one of anvil's public dev keys)."""
    return Account.from_key(keccak(text=f"sandbox-ethereum-test:{name}"))


def admin(eth: dict[str, Any], path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{eth['url']}/__sandbox/{path}", json=body, timeout=30)


def fund(eth: dict[str, Any], address: str, asset: str, amount: str) -> dict[str, Any]:
    reply = admin(eth, "fund", {"address": address, "asset": asset, "amount": amount})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def token(w3: Web3, eth: dict[str, Any], symbol: str) -> Any:
    return w3.eth.contract(address=eth["tokens"][symbol], abi=ERC20_ABI)


def send_eth(w3: Web3, sender: LocalAccount, to: str, value: int) -> Any:
    """Sign an EIP-1559 value transfer locally; returns the signed transaction."""
    tx: dict[str, Any] = {
        "to": to,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": 20 * GWEI,
        "maxPriorityFeePerGas": 1 * GWEI,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    return sender.sign_transaction(tx)


def sign_token_transfer(w3: Web3, contract: Any, sender: LocalAccount, to: str, value: int) -> Any:
    tx = contract.functions.transfer(to, value).build_transaction(
        {
            "from": sender.address,
            "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
            "gas": 100_000,
            "maxFeePerGas": 20 * GWEI,
            "maxPriorityFeePerGas": 1 * GWEI,
        }
    )
    return sender.sign_transaction(tx)


def wait_for_head(w3: Web3, number: int, timeout_s: float = 15.0) -> int:
    deadline = time.monotonic() + timeout_s
    while (head := w3.eth.block_number) < number:
        assert time.monotonic() < deadline, f"head stuck at {head}, wanted {number}"
        time.sleep(0.2)
    return head


def test_health_describes_endpoint_tokens_and_settings(eth: dict[str, Any]) -> None:
    health = httpx.get(f"{eth['url']}/__sandbox/health").json()
    assert health["ok"] is True and isinstance(health["head"], int)
    assert set(eth["tokens"]) == {"USDC", "SHIB", "PEPE", "FALSE", "FEEMEME"}
    assert eth["settings"]["eth_rpc_url"] == eth["url"]
    assert eth["settings"]["token_contracts"] == {
        s: eth["tokens"][s] for s in ("USDC", "SHIB", "PEPE")
    }
    faucet_key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    assert faucet_key not in json.dumps(health).lower()


def test_tokens_have_the_decimals_the_asset_registry_expects(w3: Web3, eth: dict[str, Any]) -> None:
    decimals = {s: token(w3, eth, s).functions.decimals().call() for s in eth["tokens"]}
    assert decimals == {"USDC": 6, "SHIB": 18, "PEPE": 18, "FALSE": 18, "FEEMEME": 18}


def test_native_transfer_confirms_as_blocks_advance(w3: Web3, eth: dict[str, Any]) -> None:
    sender, recipient = account("native-sender"), account("native-recipient")
    fund(eth, sender.address, "ETH", "1")
    signed = send_eth(w3, sender, recipient.address, ETH // 4)

    txid = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(txid, timeout=15, poll_latency=0.1)

    assert receipt["status"] == 1
    assert w3.eth.get_balance(recipient.address) == ETH // 4
    # Interval mining keeps producing blocks: wait for 3 confirmations.
    head = wait_for_head(w3, receipt["blockNumber"] + 2)
    assert head - receipt["blockNumber"] + 1 >= 3
    again = w3.eth.get_transaction_receipt(txid)
    assert again["blockHash"] == receipt["blockHash"]


def test_erc20_transfer_emits_a_decodable_transfer_log(w3: Web3, eth: dict[str, Any]) -> None:
    sender, recipient = account("usdc-sender"), account("usdc-recipient")
    fund(eth, sender.address, "ETH", "0.1")
    fund(eth, sender.address, "USDC", "100")
    usdc = token(w3, eth, "USDC")

    signed = sign_token_transfer(w3, usdc, sender, recipient.address, 12_345_678)
    txid = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(txid, timeout=15, poll_latency=0.1)

    assert receipt["status"] == 1
    (event,) = usdc.events.Transfer().process_receipt(receipt)
    assert event["args"]["from"] == sender.address
    assert event["args"]["to"] == recipient.address
    assert event["args"]["value"] == 12_345_678
    assert usdc.functions.balanceOf(recipient.address).call() == 12_345_678
    assert usdc.functions.balanceOf(sender.address).call() == 100_000_000 - 12_345_678


def test_fund_delivers_eth_and_usdc_on_chain(w3: Web3, eth: dict[str, Any]) -> None:
    fresh = account("fund-fresh").address

    paid_eth = fund(eth, fresh, "ETH", "1.5")
    paid_usdc = fund(eth, fresh, "USDC", "250.75")

    assert w3.eth.get_balance(fresh) == 1_500_000_000_000_000_000
    assert token(w3, eth, "USDC").functions.balanceOf(fresh).call() == 250_750_000
    for paid in (paid_eth, paid_usdc):
        receipt = w3.eth.get_transaction_receipt(paid["txid"])
        assert receipt["status"] == 1 and receipt["blockNumber"] == paid["block"]
        assert receipt["from"] == eth["credentials"]["faucet_address"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"address": "0x1234", "asset": "ETH", "amount": "1"}, "invalid_address"),
        # valid hex, but the mixed case is not its EIP-55 checksum
        (
            {
                "address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C9",
                "asset": "ETH",
                "amount": "1",
            },
            "invalid_address",
        ),
        ({"asset": "DOGE", "amount": "1"}, "invalid_asset"),
        ({"asset": "USDC", "amount": "0.0000001"}, "invalid_amount"),
        ({"asset": "ETH", "amount": 1.5}, "invalid_amount"),
        ({"asset": "ETH", "amount": "-1"}, "invalid_amount"),
        ({"asset": "ETH", "amount": "0"}, "invalid_amount"),
        ({"asset": "ETH", "amount": "1e3"}, "invalid_amount"),
    ],
)
def test_fund_rejects_bad_input_and_sends_nothing(
    w3: Web3, eth: dict[str, Any], body: dict[str, Any], code: str
) -> None:
    faucet = eth["credentials"]["faucet_address"]
    nonce_before = w3.eth.get_transaction_count(faucet, "pending")

    reply = admin(eth, "fund", {"address": account("fund-bad").address, **body})

    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == code
    assert w3.eth.get_transaction_count(faucet, "pending") == nonce_before


def test_reorg_removes_a_mined_transaction(w3: Web3, eth: dict[str, Any]) -> None:
    sender, recipient = account("reorg-sender"), account("reorg-recipient")
    fund(eth, sender.address, "ETH", "1")
    signed = send_eth(w3, sender, recipient.address, ETH // 10)
    txid = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(txid, timeout=15, poll_latency=0.1)
    assert w3.eth.get_balance(recipient.address) == ETH // 10

    # Deep enough to cover the tx even if a block or two is mined meanwhile.
    depth = w3.eth.block_number - receipt["blockNumber"] + 3
    reply = admin(eth, "reorg", {"depth": depth})

    assert reply.status_code == 200, reply.text
    assert txid.to_0x_hex() in reply.json()["dropped"]
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt(txid)
    replaced = w3.eth.get_block(receipt["blockNumber"])
    assert replaced["hash"] != receipt["blockHash"]
    assert w3.eth.get_balance(recipient.address) == 0
    assert w3.eth.get_transaction_count(sender.address) == 0  # the nonce is free again


def test_snapshot_and_revert_undo_a_transfer(w3: Web3, eth: dict[str, Any]) -> None:
    fresh = account("snapshot-fresh").address
    snap = admin(eth, "snapshot", {}).json()["id"]
    fund(eth, fresh, "PEPE", "42")
    pepe = token(w3, eth, "PEPE")
    assert pepe.functions.balanceOf(fresh).call() == 42 * ETH

    reply = admin(eth, "revert", {"id": snap})

    assert reply.status_code == 200 and reply.json()["reverted"] is True
    assert pepe.functions.balanceOf(fresh).call() == 0


def test_false_token_transfer_succeeds_but_moves_nothing(w3: Web3, eth: dict[str, Any]) -> None:
    sender, recipient = account("false-sender"), account("false-recipient")
    fund(eth, sender.address, "ETH", "0.1")
    fund(eth, sender.address, "FALSE", "10")
    false_token = token(w3, eth, "FALSE")
    assert (
        false_token.functions.transfer(recipient.address, ETH).call({"from": sender.address})
        is False
    )

    signed = sign_token_transfer(w3, false_token, sender, recipient.address, ETH)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=15, poll_latency=0.1
    )

    assert receipt["status"] == 1  # the receipt alone says "success"
    assert receipt["logs"] == []
    assert false_token.functions.balanceOf(sender.address).call() == 10 * ETH
    assert false_token.functions.balanceOf(recipient.address).call() == 0


def test_fee_on_transfer_token_delivers_less_than_sent(w3: Web3, eth: dict[str, Any]) -> None:
    sender, recipient = account("fee-sender"), account("fee-recipient")
    fund(eth, sender.address, "ETH", "0.1")
    fund(eth, sender.address, "FEEMEME", "100")
    meme = token(w3, eth, "FEEMEME")
    assert meme.functions.balanceOf(sender.address).call() == 98 * ETH  # the faucet paid 2% too
    supply_before = meme.functions.totalSupply().call()

    signed = sign_token_transfer(w3, meme, sender, recipient.address, 50 * ETH)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=15, poll_latency=0.1
    )

    assert receipt["status"] == 1
    assert meme.functions.balanceOf(recipient.address).call() == 49 * ETH
    assert meme.functions.balanceOf(sender.address).call() == 48 * ETH
    assert meme.functions.totalSupply().call() == supply_before - 1 * ETH
    events = meme.events.Transfer().process_receipt(receipt)
    assert [(e["args"]["to"], e["args"]["value"]) for e in events] == [
        (recipient.address, 49 * ETH),
        ("0x" + "00" * 20, 1 * ETH),
    ]


@pytest.mark.usefixtures("clear_faults")
def test_dropped_response_hides_a_transaction_that_was_sent(w3: Web3, eth: dict[str, Any]) -> None:
    sender, recipient = account("drop-sender"), account("drop-recipient")
    fund(eth, sender.address, "ETH", "1")
    signed = send_eth(w3, sender, recipient.address, ETH // 5)
    faults = {"match": "eth_sendRawTransaction", "drop_next": 1}
    admin(eth, "faults", faults).raise_for_status()

    with pytest.raises(Exception) as lost:  # the connection closes with no HTTP response
        w3.eth.send_raw_transaction(signed.raw_transaction)

    assert "connection" in type(lost.value).__name__.lower() + str(lost.value).lower()
    receipt = w3.eth.wait_for_transaction_receipt(signed.hash, timeout=15, poll_latency=0.1)
    assert receipt["status"] == 1
    assert w3.eth.get_balance(recipient.address) == ETH // 5


@pytest.mark.usefixtures("clear_faults")
def test_swallowed_transaction_never_mines_and_can_be_resent(w3: Web3, eth: dict[str, Any]) -> None:
    sender, recipient = account("swallow-sender"), account("swallow-recipient")
    fund(eth, sender.address, "ETH", "1")
    signed = send_eth(w3, sender, recipient.address, ETH // 5)
    admin(eth, "faults", {"extra": {"drop_tx_next": 1}}).raise_for_status()

    txid = w3.eth.send_raw_transaction(signed.raw_transaction)

    assert txid == signed.hash  # acknowledged with the real hash...
    admin(eth, "mine", {"blocks": 2}).raise_for_status()
    with pytest.raises(TransactionNotFound):  # ...but it never reached a mempool
        w3.eth.get_transaction(txid)
    assert w3.eth.get_transaction_count(sender.address, "pending") == 0
    w3.eth.send_raw_transaction(signed.raw_transaction)  # the knob fired once only
    assert w3.eth.wait_for_transaction_receipt(txid, timeout=15, poll_latency=0.1)["status"] == 1


def test_batch_requests_pass_through(w3: Web3, eth: dict[str, Any]) -> None:
    with w3.batch_requests() as batch:
        batch.add(w3.eth.get_block("latest"))
        batch.add(w3.eth.get_balance(eth["credentials"]["faucet_address"]))
        block, balance = cast(list[Any], batch.execute())
    assert block["number"] >= 10  # deployments alone mined ten blocks
    assert balance > 0


def _anvil_child(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    (child,) = children
    assert "anvil" in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
    return int(child)


def _wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
            if state == "Z":  # exited; only waiting for its (dead) parent to reap it
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_anvil_never_outlives_the_stand_in(tmp_path: Path, sig: signal.Signals) -> None:
    proc, _info = start_ethereum(tmp_path, block_time=0)
    try:
        anvil = _anvil_child(proc.pid)
        os.kill(proc.pid, sig)  # the stand-in only, not its process group
        proc.wait(10)
        assert _wait_gone(anvil), f"anvil {anvil} survived {sig.name} of its parent"
    finally:
        stop_ethereum(proc)
