"""Solana deposits (pool addresses), idempotent sends and expiry against the real
Solana stand-in (LiteSVM behind JSON-RPC; blocks advance only when mined)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair

from sandbox.solana.testing import start_solana, stop_solana
from tests.chains.helpers import Custody, make_custody
from wallet.assets import Chain
from wallet.chains.base import Purpose, TransferIntent
from wallet.chains.broadcast import refresh, send
from wallet.chains.models import BroadcastStatus
from wallet.chains.scanner import scan_until_head
from wallet.chains.solana import SolanaAdapter
from wallet.custody.addresses import fill_solana_pool
from wallet.custody.deposits import ConfirmationPolicy, process_deposits
from wallet.custody.errors import ChainError
from wallet.db.models.users import AddressPurpose
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance, user_wallet

VALIDITY = 10
CONFS = 3
POLICY = ConfirmationPolicy({"SOL": CONFS, "USDC-SPL": CONFS, "BONK": CONFS})


@pytest.fixture(scope="module")
def sol(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc, info = start_solana(
        tmp_path_factory.mktemp("sol"),
        slot_ms=3_600_000,
        finalize_depth=4,
        blockhash_validity=VALIDITY,
    )
    try:
        yield info
    finally:
        stop_solana(proc)


@pytest.fixture
def admin(sol: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sol["url"], timeout=30) as client:
        yield client
        client.post("/__sandbox/faults", json={"clear": True})


@pytest.fixture
def adapter(sol: dict[str, Any]) -> Iterator[SolanaAdapter]:
    adapter = SolanaAdapter(sol["url"], sol["settings"]["token_contracts"])
    yield adapter
    adapter.close()


@pytest.fixture
def world(sol: dict[str, Any], tmp_path: Path) -> Custody:
    caps = {"SOL": 5 * 10**9, "USDC-SPL": 1_000 * 10**6, "BONK": 10**12}
    world = make_custody(tmp_path / "w.db", caps, tokens=sol["settings"]["token_contracts"])
    with transaction(world.factory) as s:
        fill_solana_pool(s, world.vault, 4)
    return world


def post(admin: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = admin.post(path, json=body)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_sol_usdc_spl_and_bonk_deposits_are_credited_once(
    world: Custody, adapter: SolanaAdapter, admin: httpx.Client
) -> None:
    start = adapter.head().height + 1
    uid = world.user("sol@example.com")
    addr = world.address(Chain.SOLANA, uid)
    amounts = {"SOL": 1_500_000_000, "USDC-SPL": 2_500_000, "BONK": 123_456_789}
    post(admin, "/__sandbox/fund", {"address": addr, "asset": "SOL", "amount": "1.5"})
    post(admin, "/__sandbox/fund", {"address": addr, "asset": "USDC-SPL", "amount": "2.5"})
    post(admin, "/__sandbox/fund", {"address": addr, "asset": "BONK", "amount": "1234.56789"})
    post(admin, "/__sandbox/mine", {"blocks": 1})

    def cycle() -> Any:
        scan_until_head(world.factory, adapter, start_height=start)
        return process_deposits(world.factory, adapter, POLICY)

    first = cycle()
    assert first.pending >= 1
    post(admin, "/__sandbox/mine", {"blocks": CONFS + 1})
    second = cycle()
    credited = {c.asset: c.amount_minor for c in first.credited + second.credited}
    assert credited == amounts
    assert cycle().credited == []
    with transaction(world.factory) as s:
        for asset, minor in amounts.items():
            assert get_balance(s, user_wallet(uid, asset)).balance == minor
            assert adapter.balance(addr, asset) == minor
        check_invariants(s)


def test_pool_addresses_are_assigned_once_each(world: Custody) -> None:
    a = world.address(Chain.SOLANA, world.user("p1@example.com"))
    b = world.address(Chain.SOLANA, world.user("p2@example.com"))
    c = world.address(Chain.SOLANA, world.user("p2b@example.com"), AddressPurpose.DEPOSIT)
    assert len({a, b, c}) == 3


def test_send_is_idempotent_and_an_expired_transaction_is_definitively_dropped(
    world: Custody, adapter: SolanaAdapter, admin: httpx.Client
) -> None:
    with transaction(world.factory) as s:
        fill_solana_pool(s, world.vault, 1)
    from wallet.custody.addresses import platform_address_any

    with transaction(world.factory) as s:
        hot = platform_address_any(s, Chain.SOLANA, AddressPurpose.HOT)
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "SOL", "amount": "3"})
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "USDC-SPL", "amount": "40"})
    dest = str(Keypair().pubkey())

    token = TransferIntent(
        "sol-wd-1", Chain.SOLANA, "USDC-SPL", hot, dest, 7_000_000, Purpose.WITHDRAWAL
    )
    first = send(world.factory, adapter, world.signer, token)
    again = send(world.factory, adapter, world.signer, token)
    assert again.txid == first.txid
    post(admin, "/__sandbox/mine", {"blocks": 2})
    assert (
        refresh(world.factory, adapter, "sol-wd-1", confirmations=1).status
        is BroadcastStatus.CONFIRMED
    )
    assert adapter.balance(dest, "USDC-SPL") == 7_000_000

    admin.post("/__sandbox/faults", json={"extra": {"drop_tx_next": 1}}).raise_for_status()
    native = TransferIntent("sol-wd-2", Chain.SOLANA, "SOL", hot, dest, 10**8, Purpose.WITHDRAWAL)
    lost = send(world.factory, adapter, world.signer, native)
    assert lost.status is BroadcastStatus.SENT and lost.last_valid_height is not None
    post(admin, "/__sandbox/mine", {"blocks": VALIDITY + 2})
    assert (
        refresh(world.factory, adapter, "sol-wd-2", confirmations=1).status
        is BroadcastStatus.DROPPED
    )
    retry = send(world.factory, adapter, world.signer, native)
    assert retry.status is BroadcastStatus.DROPPED and retry.txid == lost.txid
    post(admin, "/__sandbox/mine", {"blocks": 1})
    assert adapter.balance(dest, "SOL") == 0


def test_block_hashes_are_none_for_skipped_slots_and_past_the_head(
    adapter: SolanaAdapter, admin: httpx.Client
) -> None:
    before = adapter.head().height
    admin.post("/__sandbox/faults", json={"extra": {"skip_slots_next": 2}}).raise_for_status()
    post(admin, "/__sandbox/mine", {"blocks": 3})
    head = adapter.head().height
    hashes = adapter.block_hashes(range(before, head + 3))
    skipped = [slot for slot, found in hashes.items() if found is None and slot <= head]
    assert len(skipped) == 2  # the skipped slots, told apart from produced ones
    assert hashes[head] == adapter.head().hash and hashes[head + 2] is None  # past the head


def test_nothing_there_is_the_nodes_answer_never_an_unreachable_node(
    adapter: SolanaAdapter, sol: dict[str, Any]
) -> None:
    nobody = str(Keypair().pubkey())
    assert adapter.balance(nobody, "USDC-SPL") == 0  # no token account yet
    assert adapter.block_hash(adapter.head().height + 5) is None
    down = SolanaAdapter("http://127.0.0.1:9", sol["settings"]["token_contracts"], timeout_s=2)
    try:
        with pytest.raises(ChainError):
            down.block_hash(1)
        with pytest.raises(ChainError):
            down.balance(nobody, "USDC-SPL")
    finally:
        down.close()
