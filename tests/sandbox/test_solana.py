"""The Solana stand-in driven by the real ``solana.rpc.async_api.AsyncClient`` over HTTP.

Two stand-in processes: ``manual`` has an hour-long slot so blocks advance
only through ``/__sandbox/mine`` (deterministic commitment and expiry
checks); ``ticking`` runs a 100 ms slot clock to prove the chain moves on
its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.core import RPCException
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionConfirmationStatus, TransactionErrorFieldless
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import create_idempotent_associated_token_account, transfer_checked
from spl.token.models import TransferCheckedParams

from sandbox.solana.codec import b58encode
from sandbox.solana.testing import start_solana, stop_solana

T = TypeVar("T")
FINALIZE = 4
VALIDITY = 10


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc, info = start_solana(
        tmp_path_factory.mktemp("sol-manual"),
        slot_ms=3_600_000,
        finalize_depth=FINALIZE,
        blockhash_validity=VALIDITY,
    )
    try:
        yield info
    finally:
        stop_solana(proc)
    assert proc.returncode is not None


@pytest.fixture(scope="module")
def ticking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc, info = start_solana(
        tmp_path_factory.mktemp("sol-ticking"),
        slot_ms=100,
        finalize_depth=FINALIZE,
        blockhash_validity=20,
    )
    try:
        yield info
    finally:
        stop_solana(proc)


@pytest.fixture
def admin(manual: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=manual["url"], timeout=10) as client:
        yield client
        client.post("/__sandbox/faults", json={"clear": True}).raise_for_status()


def rpc(url: str, call: Callable[[AsyncClient], Awaitable[T]]) -> T:
    """Run one coroutine against a fresh real client."""

    async def go() -> T:
        async with AsyncClient(url, timeout=10) as client:
            return await call(client)

    return asyncio.run(go())


def fund(url: str, owner: Pubkey, asset: str, amount: str) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/__sandbox/fund", json={"address": str(owner), "asset": asset, "amount": amount}
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def mine(url: str, blocks: int) -> dict[str, Any]:
    response = httpx.post(f"{url}/__sandbox/mine", json={"blocks": blocks})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def sol_transfer(
    payer: Keypair, to: Pubkey, lamports: int, blockhash: Hash
) -> VersionedTransaction:
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    return VersionedTransaction(
        Message.new_with_blockhash([ix], payer.pubkey(), blockhash), [payer]
    )


def status_of(url: str, signature: Signature) -> Any:
    return rpc(
        url, lambda c: c.get_signature_statuses([signature], search_transaction_history=True)
    ).value[0]


def latest(url: str) -> Any:
    return rpc(url, lambda c: c.get_latest_blockhash(Processed)).value


def test_health_reports_mints_and_settings(manual: dict[str, Any]) -> None:
    tokens = manual["tokens"]
    assert set(tokens) == {"USDC-SPL", "BONK"}
    assert manual["settings"] == {"sol_rpc_url": manual["url"], "token_contracts": tokens}
    usdc = rpc(
        manual["url"],
        lambda c: c.get_token_supply(Pubkey.from_string(tokens["USDC-SPL"]), Processed),
    )
    bonk = rpc(
        manual["url"], lambda c: c.get_token_supply(Pubkey.from_string(tokens["BONK"]), Processed)
    )
    assert (usdc.value.decimals, bonk.value.decimals) == (6, 5)


def test_sol_transfer_walks_processed_confirmed_finalized(manual: dict[str, Any]) -> None:
    url = manual["url"]
    payer, payee = Keypair(), Keypair()
    fund(url, payer.pubkey(), "SOL", "2")
    tx = sol_transfer(payer, payee.pubkey(), 700_000_000, latest(url).blockhash)
    signature = rpc(url, lambda c: c.send_transaction(tx)).value

    first = status_of(url, signature)
    assert first.confirmation_status == TransactionConfirmationStatus.Processed
    assert first.confirmations == 0 and first.err is None
    # Below the requested commitment a transaction is not visible yet.
    assert rpc(url, lambda c: c.get_transaction(signature, commitment=Confirmed)).value is None

    mine(url, 1)
    assert status_of(url, signature).confirmation_status == TransactionConfirmationStatus.Confirmed
    found = rpc(url, lambda c: c.get_transaction(signature, commitment=Confirmed)).value
    assert found is not None and found.slot == first.slot
    assert rpc(url, lambda c: c.get_transaction(signature, commitment=Finalized)).value is None

    mine(url, FINALIZE - 1)
    final = status_of(url, signature)
    assert final.confirmation_status == TransactionConfirmationStatus.Finalized
    assert final.confirmations is None
    meta = rpc(
        url, lambda c: c.get_transaction(signature, commitment=Finalized)
    ).value.transaction.meta
    assert meta.fee == 5000
    assert meta.pre_balances[:2] == [2_000_000_000, 0]
    assert meta.post_balances[:2] == [2_000_000_000 - 700_000_000 - 5000, 700_000_000]
    assert rpc(url, lambda c: c.get_balance(payee.pubkey(), Finalized)).value == 700_000_000


def test_balance_honours_commitment(manual: dict[str, Any]) -> None:
    url = manual["url"]
    owner = Pubkey.from_string(str(Keypair().pubkey()))
    fund(url, owner, "SOL", "1.5")
    assert rpc(url, lambda c: c.get_balance(owner, Processed)).value == 1_500_000_000
    assert rpc(url, lambda c: c.get_balance(owner, Finalized)).value == 0
    assert rpc(url, lambda c: c.get_account_info(owner, Finalized)).value is None
    mine(url, FINALIZE)
    assert rpc(url, lambda c: c.get_balance(owner, Finalized)).value == 1_500_000_000


def test_spl_transfer_reports_token_balances(manual: dict[str, Any]) -> None:
    url = manual["url"]
    mint = Pubkey.from_string(manual["tokens"]["USDC-SPL"])
    sender, receiver = Keypair(), Keypair()
    fund(url, sender.pubkey(), "SOL", "1")
    fund(url, sender.pubkey(), "USDC-SPL", "10")
    source = get_associated_token_address(sender.pubkey(), mint)
    dest = get_associated_token_address(receiver.pubkey(), mint)
    ixs = [
        create_idempotent_associated_token_account(sender.pubkey(), receiver.pubkey(), mint),
        transfer_checked(
            TransferCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                source=source,
                mint=mint,
                dest=dest,
                owner=sender.pubkey(),
                amount=2_500_000,
                decimals=6,
            )
        ),
    ]
    message = Message.new_with_blockhash(ixs, sender.pubkey(), latest(url).blockhash)
    signature = rpc(
        url, lambda c: c.send_transaction(VersionedTransaction(message, [sender]))
    ).value
    mine(url, 1)

    found = rpc(url, lambda c: c.get_transaction(signature, "json", Confirmed, 0)).value
    meta = found.transaction.meta
    pre = {(b.owner, b.mint): b.ui_token_amount.amount for b in meta.pre_token_balances}
    post = {(b.owner, b.mint): b.ui_token_amount.amount for b in meta.post_token_balances}
    assert pre == {(sender.pubkey(), mint): "10000000"}
    assert post == {(sender.pubkey(), mint): "7500000", (receiver.pubkey(), mint): "2500000"}
    assert all(b.ui_token_amount.decimals == 6 for b in meta.post_token_balances)
    assert meta.log_messages and any("Tokenkeg" in line for line in meta.log_messages)

    parsed = rpc(url, lambda c: c.get_transaction(signature, "jsonParsed", Confirmed, 0)).value
    move = parsed.transaction.transaction.message.instructions[1]
    assert move.program == "spl-token"
    assert move.parsed["type"] == "transferChecked"
    assert move.parsed["info"]["tokenAmount"]["amount"] == "2500000"
    assert move.parsed["info"]["destination"] == str(dest)

    balance = rpc(url, lambda c: c.get_token_account_balance(dest, Confirmed)).value
    assert (balance.amount, balance.ui_amount_string) == ("2500000", "2.5")


def test_fund_delivers_sol_and_bonk(manual: dict[str, Any]) -> None:
    url = manual["url"]
    owner = Keypair().pubkey()
    bonk = Pubkey.from_string(manual["tokens"]["BONK"])
    sol = fund(url, owner, "SOL", "0.25")
    token = fund(url, owner, "BONK", "1234.5")
    assert token["units"] == "123450000"
    for funded in (sol, token):
        status = status_of(url, Signature.from_string(funded["txid"]))
        assert status is not None and status.err is None and status.slot == funded["slot"]
    assert rpc(url, lambda c: c.get_balance(owner, Processed)).value == 250_000_000
    accounts = rpc(
        url,
        lambda c: c.get_token_accounts_by_owner_json_parsed(
            owner, TokenAccountOpts(mint=bonk), Processed
        ),
    ).value
    assert [a.pubkey for a in accounts] == [get_associated_token_address(owner, bonk)]
    assert accounts[0].account.data.parsed["info"]["tokenAmount"]["amount"] == "123450000"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"address": "not-a-key", "asset": "SOL", "amount": "1"}, "invalid_address"),
        (
            {"address": "11111111111111111111111111111112", "asset": "DOGE", "amount": "1"},
            "invalid_asset",
        ),
        (
            {"address": "11111111111111111111111111111112", "asset": "SOL", "amount": 1.5},
            "invalid_amount",
        ),
        (
            {"address": "11111111111111111111111111111112", "asset": "BONK", "amount": "0.000001"},
            "invalid_amount",
        ),
        (
            {"address": "11111111111111111111111111111112", "asset": "SOL", "amount": "-1"},
            "invalid_amount",
        ),
    ],
)
def test_fund_rejects_bad_input(admin: httpx.Client, body: dict[str, Any], code: str) -> None:
    before = admin.get("/__sandbox/health").json()
    response = admin.post("/__sandbox/fund", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    count = rpc(str(admin.base_url).rstrip("/"), lambda c: c.get_transaction_count(Processed)).value
    assert before["head"] == admin.get("/__sandbox/health").json()["head"]
    assert (
        count
        == rpc(str(admin.base_url).rstrip("/"), lambda c: c.get_transaction_count(Processed)).value
    )


def test_expired_blockhash_is_rejected(manual: dict[str, Any]) -> None:
    url = manual["url"]
    payer = Keypair()
    fund(url, payer.pubkey(), "SOL", "1")
    stale = latest(url)
    mine(url, VALIDITY + 1)
    assert rpc(url, lambda c: c.get_block_height(Processed)).value > stale.last_valid_block_height
    tx = sol_transfer(payer, Keypair().pubkey(), 1000, stale.blockhash)
    with pytest.raises(RPCException) as caught:
        rpc(url, lambda c: c.send_transaction(tx))
    failure = caught.value.args[0]
    assert failure.data.err == TransactionErrorFieldless.BlockhashNotFound
    assert "Blockhash not found" in failure.message
    assert status_of(url, tx.signatures[0]) is None


def test_preflight_failure_carries_logs_and_nothing_lands(manual: dict[str, Any]) -> None:
    url = manual["url"]
    payer = Keypair()
    fund(url, payer.pubkey(), "SOL", "0.01")
    tx = sol_transfer(payer, Keypair().pubkey(), 10**12, latest(url).blockhash)
    with pytest.raises(RPCException) as caught:
        rpc(url, lambda c: c.send_transaction(tx))
    failure = caught.value.args[0]
    assert "custom program error: 0x1" in failure.message
    assert any("insufficient lamports" in line for line in failure.data.logs)
    assert status_of(url, tx.signatures[0]) is None
    assert rpc(url, lambda c: c.get_balance(payer.pubkey(), Processed)).value == 10_000_000


def test_skip_preflight_lands_failed_transaction_with_fee(manual: dict[str, Any]) -> None:
    url = manual["url"]
    payer = Keypair()
    fund(url, payer.pubkey(), "SOL", "0.01")
    tx = sol_transfer(payer, Keypair().pubkey(), 10**12, latest(url).blockhash)
    signature = rpc(url, lambda c: c.send_transaction(tx, TxOpts(skip_preflight=True))).value
    status = status_of(url, signature)
    assert status is not None and status.err is not None
    assert rpc(url, lambda c: c.get_balance(payer.pubkey(), Processed)).value == 10_000_000 - 5000


def test_dropped_transaction_never_lands_and_expires(
    admin: httpx.Client, manual: dict[str, Any]
) -> None:
    url = manual["url"]
    payer, payee = Keypair(), Keypair()
    fund(url, payer.pubkey(), "SOL", "1")
    admin.post("/__sandbox/faults", json={"extra": {"drop_tx_next": 1}}).raise_for_status()
    recent = latest(url)
    tx = sol_transfer(payer, payee.pubkey(), 1_000_000, recent.blockhash)
    signature = rpc(url, lambda c: c.send_transaction(tx)).value
    assert signature == tx.signatures[0]
    assert status_of(url, signature) is None

    mine(url, VALIDITY + 1)
    assert rpc(url, lambda c: c.get_block_height(Processed)).value > recent.last_valid_block_height
    assert status_of(url, signature) is None
    assert rpc(url, lambda c: c.get_balance(payee.pubkey(), Processed)).value == 0
    with pytest.raises(RPCException):  # a late rebroadcast cannot land either
        rpc(url, lambda c: c.send_transaction(tx))


def test_rebroadcast_of_dropped_transaction_lands_while_blockhash_valid(
    admin: httpx.Client, manual: dict[str, Any]
) -> None:
    url = manual["url"]
    payer, payee = Keypair(), Keypair()
    fund(url, payer.pubkey(), "SOL", "1")
    admin.post("/__sandbox/faults", json={"extra": {"drop_tx_next": 1}}).raise_for_status()
    tx = sol_transfer(payer, payee.pubkey(), 1_004_242, latest(url).blockhash)
    rpc(url, lambda c: c.send_transaction(tx))
    assert status_of(url, tx.signatures[0]) is None
    rpc(url, lambda c: c.send_transaction(tx))
    assert status_of(url, tx.signatures[0]) is not None
    assert rpc(url, lambda c: c.get_balance(payee.pubkey(), Processed)).value == 1_004_242
    # Once landed, a third broadcast is a duplicate: preflight says so, skipPreflight is a no-op.
    with pytest.raises(RPCException) as caught:
        rpc(url, lambda c: c.send_transaction(tx))
    assert caught.value.args[0].data.err == TransactionErrorFieldless.AlreadyProcessed
    rpc(url, lambda c: c.send_transaction(tx, TxOpts(skip_preflight=True)))
    assert rpc(url, lambda c: c.get_balance(payee.pubkey(), Processed)).value == 1_004_242


def test_get_block_lists_transaction_and_reports_skipped_slots(
    admin: httpx.Client, manual: dict[str, Any]
) -> None:
    url = manual["url"]
    payer = Keypair()
    funded = fund(url, payer.pubkey(), "SOL", "1")
    slot = funded["slot"]
    with pytest.raises(RPCException):  # the head block is not confirmed yet
        rpc(url, lambda c: c.get_block(slot, max_supported_transaction_version=0))
    admin.post("/__sandbox/faults", json={"extra": {"skip_slots_next": 3}}).raise_for_status()
    mine(url, 1 + FINALIZE)
    block = rpc(url, lambda c: c.get_block(slot, max_supported_transaction_version=0)).value
    assert funded["txid"] in [str(t.transaction.signatures[0]) for t in block.transactions]
    assert block.blockhash != block.previous_blockhash

    produced = rpc(url, lambda c: c.get_blocks(slot, slot + 4 + FINALIZE)).value
    assert produced[:2] == [slot, slot + 4]  # slots +1..+3 were skipped
    child = rpc(url, lambda c: c.get_block(slot + 4, max_supported_transaction_version=0)).value
    assert child.parent_slot == slot and child.block_height == block.block_height + 1
    with pytest.raises(RPCException) as caught:
        rpc(url, lambda c: c.get_block(slot + 2, max_supported_transaction_version=0))
    assert "skipped" in str(caught.value)


def test_signatures_for_address_newest_first(manual: dict[str, Any]) -> None:
    url = manual["url"]
    owner = Keypair().pubkey()
    first = fund(url, owner, "SOL", "0.1")["txid"]
    second = fund(url, owner, "SOL", "0.2")["txid"]
    mine(url, 1)
    listed = rpc(url, lambda c: c.get_signatures_for_address(owner, commitment=Confirmed)).value
    assert [str(s.signature) for s in listed] == [second, first]
    assert listed[0].memo is not None and "sandbox faucet" in listed[0].memo
    older = rpc(
        url,
        lambda c: c.get_signatures_for_address(
            owner, before=Signature.from_string(second), commitment=Confirmed
        ),
    ).value
    assert [str(s.signature) for s in older] == [first]


def test_simulate_and_base58_send(manual: dict[str, Any]) -> None:
    url = manual["url"]
    payer, payee = Keypair(), Keypair()
    fund(url, payer.pubkey(), "SOL", "1")
    tx = sol_transfer(payer, payee.pubkey(), 2_000_000, latest(url).blockhash)
    simulated = rpc(url, lambda c: c.simulate_transaction(tx)).value
    assert simulated.err is None and simulated.units_consumed and simulated.logs
    assert rpc(url, lambda c: c.get_balance(payee.pubkey(), Processed)).value == 0

    raw = b58encode(bytes(tx))  # sendTransaction's default (legacy) encoding
    body = {"jsonrpc": "2.0", "id": 1, "method": "sendTransaction", "params": [raw]}
    sent = httpx.post(url, json=body).json()
    assert sent == {"jsonrpc": "2.0", "result": str(tx.signatures[0]), "id": 1}
    assert rpc(url, lambda c: c.get_balance(payee.pubkey(), Processed)).value == 2_000_000


def test_v0_transaction_needs_max_supported_version(manual: dict[str, Any]) -> None:
    url = manual["url"]
    payer = Keypair()
    fund(url, payer.pubkey(), "SOL", "1")
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**6)
    )
    message = MessageV0.try_compile(payer.pubkey(), [ix], [], latest(url).blockhash)
    signature = rpc(url, lambda c: c.send_transaction(VersionedTransaction(message, [payer]))).value
    mine(url, 1)
    with pytest.raises(RPCException) as caught:
        rpc(url, lambda c: c.get_transaction(signature, commitment=Confirmed))
    assert "maxSupportedTransactionVersion" in str(caught.value)
    found = rpc(url, lambda c: c.get_transaction(signature, "json", Confirmed, 0)).value
    assert found is not None and found.transaction.version == 0


def test_json_rpc_envelope_errors(manual: dict[str, Any]) -> None:
    url = manual["url"]
    unknown = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 7, "method": "getNope", "params": []}
    ).json()
    assert unknown == {
        "jsonrpc": "2.0",
        "error": {"code": -32601, "message": "Method not found"},
        "id": 7,
    }
    garbled = httpx.post(url, content=b"{not json").json()
    assert garbled["error"]["code"] == -32700
    batch = httpx.post(
        url,
        json=[
            {"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "getBlock",
                "params": [1, {"commitment": "processed"}],
            },
        ],
    ).json()
    assert batch[0]["result"] == "ok"
    assert batch[1]["error"]["code"] == -32602


def test_clock_finalizes_on_its_own(ticking: dict[str, Any]) -> None:
    url = ticking["url"]
    payer = Keypair()
    fund(url, payer.pubkey(), "SOL", "1")
    recent = latest(url)
    tx = sol_transfer(payer, Keypair().pubkey(), 1_000_000, recent.blockhash)

    async def send_and_confirm(client: AsyncClient) -> Any:
        sent = await client.send_transaction(tx)
        return await client.confirm_transaction(
            sent.value,
            Finalized,
            sleep_seconds=0.05,
            last_valid_block_height=recent.last_valid_block_height,
        )

    confirmed = rpc(url, send_and_confirm).value[0]
    assert confirmed.confirmation_status == TransactionConfirmationStatus.Finalized
    deadline = time.monotonic() + 10
    while rpc(url, lambda c: c.get_slot(Finalized)).value < confirmed.slot:
        assert time.monotonic() < deadline, "finalized slot never caught up"
        time.sleep(0.05)
    block = rpc(
        url, lambda c: c.get_block(confirmed.slot, max_supported_transaction_version=0)
    ).value
    assert tx.signatures[0] in [t.transaction.signatures[0] for t in block.transactions]
