"""Ethereum deposits, hostile tokens, reorgs and idempotent sends against the real
Ethereum stand-in (anvil behind the fault proxy, instant mining: one block per tx)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from eth_account import Account
from sqlalchemy import func, select

from tests.chains.helpers import Custody, make_custody
from wallet.assets import Chain
from wallet.chains.base import Purpose, TransferIntent
from wallet.chains.broadcast import refresh, send
from wallet.chains.evm import EvmAdapter
from wallet.chains.models import BroadcastStatus
from wallet.chains.scanner import scan_until_head
from wallet.chains.watchlist import Watchlist
from wallet.custody.deposits import ConfirmationPolicy, process_deposits
from wallet.custody.errors import PerTransactionCapExceeded
from wallet.custody.models import CreditReversal
from wallet.db.models.chain import ChainObservation, Credit
from wallet.db.models.ops import AuditLog
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance, user_wallet

# anvil's well-known dev account 1 (public test key): plays the external payer.
PAYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
CONFS = 3
POLICY = ConfirmationPolicy({"ETH": CONFS, "USDC": CONFS, "SHIB": CONFS, "PEPE": CONFS})


def tokens(eth: dict[str, Any]) -> dict[str, str]:
    return dict(eth["settings"]["token_contracts"])


@pytest.fixture
def world(eth: dict[str, Any], tmp_path: Path) -> Custody:
    caps = {"ETH": 5 * 10**18, "USDC": 1_000 * 10**6, "SHIB": 10**24, "PEPE": 10**24}
    return make_custody(tmp_path / "w.db", caps, tokens=tokens(eth))


@pytest.fixture
def adapter(eth: dict[str, Any]) -> EvmAdapter:
    return EvmAdapter(eth["url"], tokens(eth), chain_id=31337, watch_spoofs=True)


def post(admin: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = admin.post(path, json=body)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def rpc(admin: httpx.Client, method: str, *params: Any) -> Any:
    reply = admin.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    body = reply.json()
    assert "error" not in body, body
    return body["result"]


def start_at_head(world: Custody, adapter: EvmAdapter) -> int:
    """Scanner starts at the current head (the stand-in already has deploy blocks)."""
    return adapter.head().height + 1


def credits(world: Custody) -> list[Credit]:
    with transaction(world.factory) as s:
        return list(s.scalars(select(Credit).order_by(Credit.id)))


def cycle(world: Custody, adapter: EvmAdapter, start: int) -> Any:
    scan_until_head(world.factory, adapter, start_height=start)
    return process_deposits(world.factory, adapter, POLICY)


def test_deposits_of_eth_and_tokens_are_credited_once_after_confirmations(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    start = start_at_head(world, adapter)
    uid = world.user("alice@example.com")
    addr = world.address(Chain.ETHEREUM, uid)
    amounts = {"ETH": "1.25", "USDC": "12.345678", "SHIB": "1000000", "PEPE": "42.5"}
    for asset, amount in amounts.items():
        post(admin, "/__sandbox/fund", {"address": addr, "asset": asset, "amount": amount})

    report = cycle(world, adapter, start)  # one block each: the last two lack confirmations
    assert sorted(c.asset for c in report.credited) == ["ETH", "USDC"] and report.pending == 2
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    report = cycle(world, adapter, start)
    assert sorted(c.asset for c in report.credited) == ["PEPE", "SHIB"]
    again = cycle(world, adapter, start)
    assert again.credited == []

    decimals = {"ETH": 18, "USDC": 6, "SHIB": 18, "PEPE": 18}
    with transaction(world.factory) as s:
        for asset, amount in amounts.items():
            whole, _, frac = amount.partition(".")
            minor = int(whole + frac.ljust(decimals[asset], "0"))
            assert get_balance(s, user_wallet(uid, asset)).balance == minor
            assert adapter.balance(addr, asset) == minor
        check_invariants(s)
    assert len(credits(world)) == 4


def test_reorg_before_credit_then_reinclusion_credits_once(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    start = start_at_head(world, adapter)
    addr = world.address(Chain.ETHEREUM, world.user("bob@example.com"))
    funded = post(admin, "/__sandbox/fund", {"address": addr, "asset": "USDC", "amount": "7"})
    raw = rpc(admin, "eth_getRawTransactionByHash", funded["txid"])
    cycle(world, adapter, start)  # observed at 1 confirmation: pending
    post(admin, "/__sandbox/reorg", {"depth": 1})
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    report = cycle(world, adapter, start)
    assert report.credited == [] and credits(world) == []

    rpc(admin, "eth_sendRawTransaction", raw)  # the same transaction lands again
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    report = cycle(world, adapter, start)
    assert [(c.asset, c.amount_minor) for c in report.credited] == [("USDC", 7_000_000)]
    with transaction(world.factory) as s:
        hashes = s.scalars(
            select(ChainObservation.block_hash).where(ChainObservation.txid == funded["txid"])
        ).all()
        assert len(set(hashes)) == 2  # both sightings kept, insert-only
    assert len(credits(world)) == 1


def test_reorg_after_credit_posts_a_reversing_entry(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    start = start_at_head(world, adapter)
    uid = world.user("carol@example.com")
    addr = world.address(Chain.ETHEREUM, uid)
    post(admin, "/__sandbox/fund", {"address": addr, "asset": "ETH", "amount": "2"})
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    assert len(cycle(world, adapter, start).credited) == 1

    post(admin, "/__sandbox/reorg", {"depth": CONFS + 2})
    report = cycle(world, adapter, start)
    assert len(report.reversed) == 1
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, "ETH")).balance == 0
        assert s.scalar(select(func.count(CreditReversal.id))) == 1
        check_invariants(s)
    assert cycle(world, adapter, start).reversed == []  # flagged once


def test_reverted_false_and_spoofed_token_transfers_credit_nothing(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client, eth: dict[str, Any]
) -> None:
    from web3 import Web3

    start = start_at_head(world, adapter)
    addr = world.address(Chain.ETHEREUM, world.user("dave@example.com"))
    w3 = Web3(Web3.HTTPProvider(eth["url"]))
    payer = Account.from_key(PAYER_KEY)
    data_to = "0xa9059cbb" + "0" * 24 + addr[2:].lower()

    def call(contract: str, amount: int) -> str:
        tx = {
            "to": contract,
            "data": data_to + amount.to_bytes(32, "big").hex(),
            "gas": 100_000,
            "nonce": w3.eth.get_transaction_count(payer.address, "pending"),
            "chainId": 31337,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
        signed = payer.sign_transaction(tx)
        return w3.eth.send_raw_transaction(signed.raw_transaction).hex()

    reverted = call(eth["tokens"]["USDC"], 10**12)  # payer holds no USDC: reverts
    false_tx = call(eth["tokens"]["FALSE"], 10**18)  # returns false, moves nothing
    # A non-allowlisted contract really emitting Transfer logs to us (mint).
    post(admin, "/__sandbox/fund", {"address": addr, "asset": "FALSE", "amount": "5"})
    post(admin, "/__sandbox/fund", {"address": addr, "asset": "FEEMEME", "amount": "5"})
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    assert w3.eth.get_transaction_receipt(reverted)["status"] == 0
    assert w3.eth.get_transaction_receipt(false_tx)["status"] == 1

    report = cycle(world, adapter, start)
    assert report.credited == [] and credits(world) == []
    with transaction(world.factory) as s:
        assert s.scalar(select(func.count(ChainObservation.id))) == 0
        spoofs = s.scalars(
            select(AuditLog.data).where(AuditLog.action == "security.token_wrong_contract")
        ).all()
    assert {d["contract"].lower() for d in spoofs} == {
        eth["tokens"]["FALSE"].lower(),
        eth["tokens"]["FEEMEME"].lower(),
    }


def test_fee_on_transfer_token_credits_what_arrived(
    eth: dict[str, Any], admin: httpx.Client, world: Custody
) -> None:
    fee_adapter = EvmAdapter(eth["url"], {"FEEMEME": eth["tokens"]["FEEMEME"]}, chain_id=31337)
    addr = world.address(Chain.ETHEREUM, world.user("erin@example.com"))
    funded = post(admin, "/__sandbox/fund", {"address": addr, "asset": "FEEMEME", "amount": "10"})
    result = fee_adapter.scan(funded["block"], funded["block"], {addr.lower()})
    (obs,) = result.observations
    assert obs.amount_minor == 98 * 10**17  # the log already says what arrived
    check = fee_adapter.verify_credit(obs)
    assert check.reason is None and check.amount_minor == fee_adapter.balance(addr, "FEEMEME")


def test_withdrawal_above_signer_cap_is_refused(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    hot = world.platform(Chain.ETHEREUM)
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "ETH", "amount": "10"})
    intent = TransferIntent(
        "wd-too-big", Chain.ETHEREUM, "ETH", hot, Account.create().address, 6 * 10**18,
        Purpose.WITHDRAWAL,
    )  # fmt: skip
    with pytest.raises(PerTransactionCapExceeded) as info:
        send(world.factory, adapter, world.signer, intent)
    assert info.value.code == "signer_per_tx_cap_exceeded"
    assert adapter.balance(intent.to_address, "ETH") == 0


def test_send_is_idempotent_and_a_dropped_broadcast_is_resent_unchanged(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    hot = world.platform(Chain.ETHEREUM)
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "ETH", "amount": "3"})
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "USDC", "amount": "50"})
    dest = Account.create().address
    admin.post("/__sandbox/faults", json={"extra": {"drop_tx_next": 1}}).raise_for_status()
    intent = TransferIntent(
        "wd-1", Chain.ETHEREUM, "USDC", hot, dest, 12_500_000, Purpose.WITHDRAWAL
    )
    first = send(world.factory, adapter, world.signer, intent)
    assert adapter.balance(dest, "USDC") == 0  # answered with its hash, never reached the node
    assert refresh(world.factory, adapter, "wd-1", confirmations=1).status is BroadcastStatus.SENT
    second = send(world.factory, adapter, world.signer, intent)
    assert (second.txid, second.nonce) == (first.txid, first.nonce)
    assert adapter.balance(dest, "USDC") == 12_500_000
    assert (
        refresh(world.factory, adapter, "wd-1", confirmations=1).status is BroadcastStatus.CONFIRMED
    )
    third = send(world.factory, adapter, world.signer, intent)
    assert third.txid == first.txid and adapter.balance(dest, "USDC") == 12_500_000

    eth_intent = TransferIntent(
        "wd-2", Chain.ETHEREUM, "ETH", hot, dest, 10**17, Purpose.WITHDRAWAL
    )
    assert send(world.factory, adapter, world.signer, eth_intent).nonce == first.nonce + 1
    assert adapter.balance(dest, "ETH") == 10**17


def counting_session() -> tuple[requests.Session, list[int]]:
    calls: list[int] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, *a, **k: calls.append(1))
    return session, calls


def test_scan_cost_is_independent_of_the_number_of_watched_addresses(
    eth: dict[str, Any], admin: httpx.Client
) -> None:
    start = int(rpc(admin, "eth_blockNumber"), 16) + 1
    real = Account.create().address
    post(admin, "/__sandbox/fund", {"address": real, "asset": "USDC", "amount": "1"})
    post(admin, "/__sandbox/fund", {"address": real, "asset": "ETH", "amount": "1"})
    post(admin, "/__sandbox/mine", {"blocks": 998})
    end = start + 999
    counts = []
    for n in (10, 10_000):
        watched = {real.lower()} | {Account.create().address.lower() for _ in range(n - 1)}
        session, calls = counting_session()
        counted = EvmAdapter(eth["url"], tokens(eth), chain_id=31337, http_session=session)
        result = counted.scan(start, end, watched)
        assert len(result.blocks) == 1000
        assert sorted(o.asset for o in result.observations) == ["ETH", "USDC"]
        counts.append(len(calls))
    assert counts[0] == counts[1]
    assert counts[0] <= 20  # 1 getLogs + 10 block batches + 2 receipts


def test_block_hashes_come_in_one_batch_request(eth: dict[str, Any]) -> None:
    session, calls = counting_session()
    counted = EvmAdapter(eth["url"], tokens(eth), chain_id=31337, http_session=session)
    tip = counted.head().height
    singles = {h: counted.block_hash(h) for h in (tip - 2, tip - 1, tip)}
    calls.clear()
    assert counted.block_hashes([tip, tip - 1, tip - 2, tip - 1, tip + 50]) == singles | {
        tip + 50: None
    }
    assert len(calls) == 1


def test_a_kept_watchlist_sees_an_address_made_after_the_previous_scan(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    start = start_at_head(world, adapter)
    watchlist = Watchlist(Chain.ETHEREUM.value)
    early = world.address(Chain.ETHEREUM, world.user("early@example.com"))
    post(admin, "/__sandbox/fund", {"address": early, "asset": "ETH", "amount": "1"})
    scan_until_head(world.factory, adapter, start_height=start, watchlist=watchlist)
    late = world.address(Chain.ETHEREUM, world.user("late@example.com"))
    post(admin, "/__sandbox/fund", {"address": late, "asset": "USDC", "amount": "2"})
    scan_until_head(world.factory, adapter, start_height=start, watchlist=watchlist)
    with transaction(world.factory) as s:
        seen = {(o.address.lower(), o.asset) for o in s.scalars(select(ChainObservation))}
    assert seen == {(early.lower(), "ETH"), (late.lower(), "USDC")}
    assert len(watchlist) == 2


def test_withdrawal_hold_broadcast_confirm_post_and_refusal_voids_the_hold(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    from wallet.chains.networks import NetworkKind, network
    from wallet.custody.models import WithdrawalStatus
    from wallet.custody.withdrawals import (
        WithdrawalLimits,
        execute_withdrawal,
        request_withdrawal,
        settle_withdrawal,
    )
    from wallet.errors import InsufficientFunds

    hot = world.platform(Chain.ETHEREUM)
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "USDC", "amount": "100"})
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "ETH", "amount": "1"})
    start = start_at_head(world, adapter)  # the hot wallet's float predates the scan
    uid = world.user("frank@example.com")
    addr = world.address(Chain.ETHEREUM, uid)
    post(admin, "/__sandbox/fund", {"address": addr, "asset": "USDC", "amount": "100"})
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    assert len(cycle(world, adapter, start).credited) == 1
    net = network(Chain.ETHEREUM, NetworkKind.SANDBOX)
    limits = WithdrawalLimits({"USDC": 1_000_000}, {"USDC": 10_000 * 10**6})
    dest = Account.create().address

    def request(key: str, amount: int) -> None:
        with transaction(world.factory) as s:
            request_withdrawal(
                s, key=key, user_id=uid, net=net, asset="USDC", to_address=dest,
                amount_minor=amount, limits=limits,
            )  # fmt: skip

    request("w-ok", 40 * 10**6)
    request("w-ok", 40 * 10**6)  # idempotent
    with pytest.raises(InsufficientFunds):
        request("w-too-much", 61 * 10**6)
    assert (
        execute_withdrawal(world.factory, adapter, world.signer, "w-ok", hot)
        is WithdrawalStatus.BROADCAST
    )
    assert settle_withdrawal(world.factory, adapter, "w-ok") is WithdrawalStatus.POSTED
    assert adapter.balance(dest, "USDC") == 40 * 10**6

    # Above the signer's own per-transaction cap (1,000 USDC would pass the platform limit).
    big_world_limits = WithdrawalLimits({"USDC": 1}, {"USDC": 10**15})
    with transaction(world.factory) as s:
        from wallet.ledger import post_entry

        topup = 2_000 * 10**6
        legs = [("hot:ethereum:USDC", "USDC", topup), (user_wallet(uid, "USDC"), "USDC", -topup)]
        post_entry(s, legs, kind="test.topup", ref="frank")
        request_withdrawal(
            s, key="w-cap", user_id=uid, net=net, asset="USDC", to_address=dest,
            amount_minor=1_500 * 10**6, limits=big_world_limits,
        )  # fmt: skip
    assert (
        execute_withdrawal(world.factory, adapter, world.signer, "w-cap", hot)
        is WithdrawalStatus.FAILED
    )
    with transaction(world.factory) as s:
        balance = get_balance(s, user_wallet(uid, "USDC"))
        assert balance.balance == 2_060 * 10**6 and balance.held == 0
        check_invariants(s)
    assert adapter.balance(dest, "USDC") == 40 * 10**6
