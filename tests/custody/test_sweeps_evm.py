"""Ethereum sweeps (gas top-up, cold threshold, dropped broadcast), withdrawal fees and
re-credit after a reorg, against the real Ethereum stand-in (anvil, one block per tx)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import func, select

from tests.chains.helpers import Custody, make_custody
from wallet.assets import Chain
from wallet.chains.evm import EvmAdapter
from wallet.chains.models import ChainBroadcast
from wallet.chains.networks import NetworkKind, network
from wallet.custody.config import CustodyConfig
from wallet.custody.deposits import ConfirmationPolicy
from wallet.custody.fees import NETWORK_FEE_KIND
from wallet.custody.models import CreditReinstatement, CustodySweep, SweepStatus
from wallet.custody.service import scan_chain
from wallet.custody.sweeps import get_sweep, run_sweeps
from wallet.db.base import utcnow
from wallet.db.models.chain import Credit
from wallet.db.models.ledger import JournalEntry
from wallet.db.models.payments import Payment, PaymentSource, Quote, QuoteStatus
from wallet.db.models.users import AddressPurpose
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance, user_wallet
from wallet.payments.states import PaymentStatus

CONFS = 3
POLICY = ConfirmationPolicy({"ETH": CONFS, "USDC": CONFS})
COLD = "0x000000000000000000000000000000000000c01D"
CFG = CustodyConfig(sweep_min={"ETH": 10**16, "USDC": 10**6})


@pytest.fixture
def adapter(eth: dict[str, Any]) -> EvmAdapter:
    return EvmAdapter(eth["url"], dict(eth["settings"]["token_contracts"]), chain_id=31337)


@pytest.fixture
def world(eth: dict[str, Any], tmp_path: Path, adapter: EvmAdapter) -> Custody:
    caps = {"ETH": 5 * 10**18, "USDC": 10_000 * 10**6}
    world = make_custody(
        tmp_path / "w.db",
        caps,
        tokens=dict(eth["settings"]["token_contracts"]),
        allowlist={"ethereum": frozenset({COLD})},
    )
    world.platform(Chain.ETHEREUM)
    tick(world, adapter)  # the cursor starts at today's head
    return world


def post(admin: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = admin.post(path, json=body)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def rpc(admin: httpx.Client, method: str, *params: Any) -> Any:
    reply = admin.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    body = reply.json()
    assert "error" not in body, body
    return body["result"]


def tick(world: Custody, adapter: EvmAdapter) -> Any:
    return scan_chain(world.factory, Chain.ETHEREUM, None, adapter=adapter, policy=POLICY)


def deposit(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client, asset: str, amount: str
) -> tuple[int, str]:
    """A user whose custodial address received ``amount`` of ``asset``, credited."""
    uid = world.user(f"{asset.lower()}-{amount}@example.com")
    addr = world.address(Chain.ETHEREUM, uid)
    post(admin, "/__sandbox/fund", {"address": addr, "asset": asset, "amount": amount})
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    tick(world, adapter)  # also credits any hot-wallet float funded meanwhile (to suspense)
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, asset)).balance > 0
    return uid, addr


def hot(world: Custody) -> str:
    return world.platform(Chain.ETHEREUM)


def fee_total(world: Custody) -> int:
    with transaction(world.factory) as s:
        return get_balance(s, "expense:network_fees:ETH").balance


def receipt_fee(admin: httpx.Client, txid: str) -> int:
    receipt = rpc(admin, "eth_getTransactionReceipt", txid)
    return int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)


def broadcast(world: Custody, key: str) -> ChainBroadcast:
    with transaction(world.factory) as s:
        return s.scalars(select(ChainBroadcast).where(ChainBroadcast.key == key)).one()


def test_erc20_sweep_tops_up_gas_first_and_books_both_fees(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    post(admin, "/__sandbox/fund", {"address": hot(world), "asset": "ETH", "amount": "2"})
    uid, addr = deposit(world, adapter, admin, "USDC", "25")
    assert adapter.balance(addr, "ETH") == 0  # no gas of its own
    eth_before = adapter.balance(hot(world), "ETH")

    report = run_sweeps(world.factory, adapter, world.signer, CFG)
    (key,) = report.planned
    assert report.statuses[key] is SweepStatus.CONFIRMED
    sweep = get_sweep(world.factory, key)
    assert sweep.topup_minor is not None and sweep.topup_minor > 0
    assert sweep.amount_minor == 25 * 10**6
    assert adapter.balance(addr, "USDC") == 0
    assert adapter.balance(hot(world), "USDC") == 25 * 10**6

    fees = receipt_fee(admin, broadcast(world, sweep.topup_key).txid) + receipt_fee(
        admin, broadcast(world, sweep.tx_key).txid
    )
    eth_after = adapter.balance(hot(world), "ETH") + adapter.balance(addr, "ETH")
    assert fee_total(world) == fees == eth_before - eth_after  # the ledger ties out to the chain
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, "USDC")).balance == 25 * 10**6  # unchanged
        assert get_balance(s, "hot:ethereum:USDC").balance == 25 * 10**6  # no sweep entry
        assert s.scalar(select(CustodySweep.fee_minor).where(CustodySweep.key == key)) == fees
        check_invariants(s)
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    after = tick(world, adapter)  # the top-up and the sweep land on watched addresses
    assert after.observed == 2 and after.credited == []  # ... and are never deposits
    again = run_sweeps(world.factory, adapter, world.signer, CFG)
    assert again.planned == [] and again.statuses == {}
    assert fee_total(world) == fees


def settled_external_payment(
    world: Custody, address: str, amount: int, status: PaymentStatus = PaymentStatus.COMPLETED
) -> str:
    """A settled external ETH payment whose deposit (booked to escrow) sits on ``address``."""
    uid = world.user(f"payer-{uuid.uuid4().hex[:8]}@example.com")
    now = utcnow()
    with transaction(world.factory) as s:
        quote = Quote(
            id=str(uuid.uuid4()), user_id=uid, asset="ETH", amount_minor=amount,
            amount_inr_paise=50_000, rate="1", payee_vpa="ravi@upi",
            status=QuoteStatus.ACCEPTED, expires_at=now,
        )  # fmt: skip
        s.add(quote)
        s.flush()  # no ORM relationship orders the two inserts
        payment = Payment(
            id=str(uuid.uuid4()), user_id=uid, quote_id=quote.id, payee_vpa="ravi@upi",
            asset="ETH", amount_minor=amount, amount_inr_paise=50_000,
            source=PaymentSource.EXTERNAL, status=status, deposit_address=address,
        )  # fmt: skip
        s.add(payment)
        return payment.id


def test_a_completed_external_payments_escrow_is_swept_once(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    uid = world.user("escrow@example.com")
    paid, dust, open_ = (world.address(Chain.ETHEREUM, uid, AddressPurpose.DEPOSIT) for _ in "abc")
    for address, amount in ((paid, "0.5"), (dust, "0.001"), (open_, "0.5")):
        post(admin, "/__sandbox/fund", {"address": address, "asset": "ETH", "amount": amount})
    pid = settled_external_payment(world, paid, 5 * 10**17)
    settled_external_payment(world, dust, 10**15)  # below sweep_min: never looked at
    settled_external_payment(world, open_, 5 * 10**17, PaymentStatus.PAID_OUT)  # not sold yet
    hot_before = adapter.balance(hot(world), "ETH")

    report = run_sweeps(world.factory, adapter, world.signer, CFG)
    key = f"sweep:ethereum:ETH:{paid}:payment:{pid}"
    assert report.planned == [key] and report.statuses == {key: SweepStatus.CONFIRMED}
    sweep = get_sweep(world.factory, key)
    fee = receipt_fee(admin, broadcast(world, sweep.tx_key).txid)
    moved = sweep.amount_minor or 0
    assert adapter.balance(hot(world), "ETH") - hot_before == moved > 0
    assert adapter.balance(paid, "ETH") + moved + fee == 5 * 10**17  # the fee reserve stays
    assert adapter.balance(open_, "ETH") == 5 * 10**17
    assert fee_total(world) == fee  # the only entry a sweep posts
    with transaction(world.factory) as s:
        assert get_balance(s, "escrow:ethereum:ETH").balance == 0  # the principal books nothing
        check_invariants(s)
    again = run_sweeps(world.factory, adapter, world.signer, CFG)
    assert again.planned == [] and again.statuses == {}


def test_cold_threshold_moves_only_the_surplus(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    post(admin, "/__sandbox/fund", {"address": hot(world), "asset": "ETH", "amount": "1"})
    post(admin, "/__sandbox/fund", {"address": hot(world), "asset": "USDC", "amount": "80"})
    cold_before = adapter.balance(COLD, "USDC")
    cfg = CustodyConfig(
        sweep_min=CFG.sweep_min,
        cold_threshold={"USDC": 30 * 10**6},
        cold_addresses={"ethereum": COLD},
    )
    report = run_sweeps(world.factory, adapter, world.signer, cfg)
    assert report.planned == ["cold:ethereum:USDC:1"]
    assert report.statuses["cold:ethereum:USDC:1"] is SweepStatus.CONFIRMED
    assert adapter.balance(COLD, "USDC") - cold_before == 50 * 10**6
    assert adapter.balance(hot(world), "USDC") == 30 * 10**6
    assert run_sweeps(world.factory, adapter, world.signer, cfg).planned == []  # at threshold

    unlisted = CustodyConfig(
        sweep_min=CFG.sweep_min,
        cold_threshold={"USDC": 0},
        cold_addresses={"ethereum": "0x1111111111111111111111111111111111111111"},
    )
    refused = run_sweeps(world.factory, adapter, world.signer, unlisted)
    assert list(refused.statuses.values()) == [SweepStatus.FAILED]  # not on the allowlist
    assert adapter.balance(hot(world), "USDC") == 30 * 10**6
    with transaction(world.factory) as s:
        assert get_balance(s, "hot:ethereum:USDC").balance == 0  # custody moves book nothing
        check_invariants(s)


def test_the_signers_daily_cap_delays_a_sweep_instead_of_failing_it(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    post(admin, "/__sandbox/fund", {"address": hot(world), "asset": "ETH", "amount": "1"})
    post(admin, "/__sandbox/fund", {"address": hot(world), "asset": "USDC", "amount": "80"})
    cfg = CustodyConfig(
        sweep_min=CFG.sweep_min,
        cold_threshold={"USDC": 30 * 10**6},
        cold_addresses={"ethereum": COLD},
    )
    policy = world.signer.policy
    world.signer.policy = replace(policy, daily_cap={**policy.daily_cap, "USDC": 10 * 10**6})
    capped = run_sweeps(world.factory, adapter, world.signer, cfg)
    assert capped.statuses == {"cold:ethereum:USDC:1": SweepStatus.SENT}  # waiting, not failed
    with transaction(world.factory) as s:
        assert s.scalar(select(func.count()).select_from(ChainBroadcast)) == 0  # nothing signed
    assert adapter.balance(hot(world), "USDC") == 80 * 10**6

    world.signer.policy = policy  # a new UTC day: the cap has room again
    done = run_sweeps(world.factory, adapter, world.signer, cfg)
    assert done.planned == [] and done.statuses == {"cold:ethereum:USDC:1": SweepStatus.CONFIRMED}
    assert adapter.balance(hot(world), "USDC") == 30 * 10**6


def test_sweep_retried_after_a_dropped_broadcast_sends_the_same_tx_once(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    _uid, addr = deposit(world, adapter, admin, "ETH", "0.5")
    admin.post("/__sandbox/faults", json={"extra": {"drop_tx_next": 1}}).raise_for_status()
    first = run_sweeps(world.factory, adapter, world.signer, CFG)
    (key,) = first.planned
    assert first.statuses[key] is SweepStatus.SENT
    assert adapter.balance(addr, "ETH") == 5 * 10**17  # swallowed: never reached the node
    txid = broadcast(world, f"{key}:tx").txid

    second = run_sweeps(world.factory, adapter, world.signer, CFG)
    assert second.planned == [] and second.statuses[key] is SweepStatus.CONFIRMED
    sweep = get_sweep(world.factory, key)
    assert broadcast(world, sweep.tx_key).txid == txid
    assert int(rpc(admin, "eth_getTransactionCount", addr, "latest"), 16) == 1  # one tx, ever
    assert sweep.amount_minor is not None
    left = 5 * 10**17 - sweep.amount_minor - receipt_fee(admin, txid)
    assert adapter.balance(addr, "ETH") == left
    with transaction(world.factory) as s:
        assert s.scalar(select(func.count(ChainBroadcast.id))) == 1
        check_invariants(s)


def test_withdrawal_fees_are_booked_as_balanced_entries(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    from wallet.custody.models import WithdrawalStatus
    from wallet.custody.withdrawals import (
        WithdrawalLimits,
        execute_withdrawal,
        request_withdrawal,
        settle_withdrawal,
    )

    post(admin, "/__sandbox/fund", {"address": hot(world), "asset": "ETH", "amount": "1"})
    uid, _addr = deposit(world, adapter, admin, "ETH", "0.3")
    net = network(Chain.ETHEREUM, NetworkKind.SANDBOX)
    limits = WithdrawalLimits({"ETH": 1}, {"ETH": 10**18})
    dest = Account.create().address
    with transaction(world.factory) as s:
        request_withdrawal(
            s, key="wfee", user_id=uid, net=net, asset="ETH", to_address=dest,
            amount_minor=10**17, limits=limits,
        )  # fmt: skip
    with transaction(world.factory) as s:
        hot_before = get_balance(s, "hot:ethereum:ETH").balance
    execute_withdrawal(world.factory, adapter, world.signer, "wfee", hot(world))
    assert settle_withdrawal(world.factory, adapter, "wfee") is WithdrawalStatus.POSTED
    assert settle_withdrawal(world.factory, adapter, "wfee") is WithdrawalStatus.POSTED
    fee = receipt_fee(admin, broadcast(world, "withdrawal:wfee").txid)
    assert adapter.balance(dest, "ETH") == 10**17  # the payee gets the full amount
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, "ETH")).balance == 2 * 10**17  # no fee charged
        assert get_balance(s, "expense:network_fees:ETH").balance == fee
        assert get_balance(s, "hot:ethereum:ETH").balance == hot_before - 10**17 - fee
        entries = s.scalars(select(JournalEntry).where(JournalEntry.kind == NETWORK_FEE_KIND))
        assert [e.ref for e in entries] == ["withdrawal:wfee"]
        check_invariants(s)


def test_recredit_after_reorg_out_then_back_happens_exactly_once(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    uid, _addr = deposit(world, adapter, admin, "ETH", "2")
    with transaction(world.factory) as s:
        txid = s.scalars(select(Credit.txid)).one()
    raw = rpc(admin, "eth_getRawTransactionByHash", txid)

    post(admin, "/__sandbox/reorg", {"depth": CONFS + 2})
    assert len(tick(world, adapter).reversed) == 1
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, "ETH")).balance == 0

    rpc(admin, "eth_sendRawTransaction", raw)  # the same transaction lands again
    post(admin, "/__sandbox/mine", {"blocks": 1})
    assert tick(world, adapter).reinstated == []  # not yet confirmed enough
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    assert len(tick(world, adapter).reinstated) == 1
    post(admin, "/__sandbox/mine", {"blocks": 2})
    again = tick(world, adapter)
    assert again.reinstated == [] and again.credited == [] and again.reversed == []
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, "ETH")).balance == 2 * 10**18
        assert s.scalar(select(func.count(CreditReinstatement.id))) == 1
        check_invariants(s)

    post(admin, "/__sandbox/reorg", {"depth": CONFS + 4})  # and out again
    assert len(tick(world, adapter).reversed) == 1
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, "ETH")).balance == 0
        check_invariants(s)
