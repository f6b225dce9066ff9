"""An SPL sweep whose deposit address holds no SOL: the hot wallet tops up fee and rent
first, against the real Solana stand-in (LiteSVM; blocks only when mined)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.solana.testing import start_solana, stop_solana
from tests.chains.helpers import Custody, make_custody
from wallet.assets import Chain
from wallet.chains.solana import SolanaAdapter
from wallet.custody.addresses import fill_solana_pool, platform_address_any
from wallet.custody.config import CustodyConfig
from wallet.custody.deposits import ConfirmationPolicy
from wallet.custody.models import SweepStatus
from wallet.custody.service import scan_chain
from wallet.custody.sweeps import get_sweep, run_sweeps
from wallet.db.models.users import AddressPurpose
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance, user_wallet

CONFS = 2
POLICY = ConfirmationPolicy({"SOL": CONFS, "USDC-SPL": CONFS})
CFG = CustodyConfig(sweep_min={"SOL": 10**7, "USDC-SPL": 10**6})


@pytest.fixture(scope="module")
def sol(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc, info = start_solana(
        tmp_path_factory.mktemp("sol"), slot_ms=3_600_000, finalize_depth=4, blockhash_validity=50
    )
    try:
        yield info
    finally:
        stop_solana(proc)


@pytest.fixture
def admin(sol: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sol["url"], timeout=30) as client:
        yield client


@pytest.fixture
def adapter(sol: dict[str, Any]) -> Iterator[SolanaAdapter]:
    adapter = SolanaAdapter(sol["url"], sol["settings"]["token_contracts"])
    yield adapter
    adapter.close()


def post(admin: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = admin.post(path, json=body)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_spl_sweep_tops_up_fee_and_rent_then_sweeps(
    sol: dict[str, Any], adapter: SolanaAdapter, admin: httpx.Client, tmp_path: Path
) -> None:
    caps = {"SOL": 5 * 10**9, "USDC-SPL": 1_000 * 10**6}
    tokens = sol["settings"]["token_contracts"]
    world: Custody = make_custody(tmp_path / "w.db", caps, tokens=tokens)
    with transaction(world.factory) as s:
        fill_solana_pool(s, world.vault, 2)
        hot = platform_address_any(s, Chain.SOLANA, AddressPurpose.HOT)

    def tick() -> Any:
        return scan_chain(world.factory, Chain.SOLANA, None, adapter=adapter, policy=POLICY)

    tick()
    uid = world.user("spl@example.com")
    addr = world.address(Chain.SOLANA, uid)
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "SOL", "amount": "2"})
    post(admin, "/__sandbox/fund", {"address": addr, "asset": "USDC-SPL", "amount": "12.5"})
    post(admin, "/__sandbox/mine", {"blocks": CONFS + 1})
    tick()
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, "USDC-SPL")).balance == 12_500_000
    assert adapter.balance(addr, "SOL") == 0
    sol_before = adapter.balance(hot, "SOL")

    first = run_sweeps(world.factory, adapter, world.signer, CFG)
    (key,) = first.planned
    assert first.statuses[key] is SweepStatus.TOPUP  # top-up sent, not yet in a block
    post(admin, "/__sandbox/mine", {"blocks": 2})
    assert run_sweeps(world.factory, adapter, world.signer, CFG).statuses[key] is SweepStatus.SENT
    topup = get_sweep(world.factory, key).topup_minor
    assert topup is not None and topup > adapter.rent_exempt_minimum(0)
    post(admin, "/__sandbox/mine", {"blocks": 2})
    done = run_sweeps(world.factory, adapter, world.signer, CFG)
    assert done.statuses[key] is SweepStatus.CONFIRMED

    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    after = tick()
    assert after.observed >= 2 and after.credited == []  # our own moves are not deposits
    assert adapter.balance(addr, "USDC-SPL") == 0
    assert adapter.balance(hot, "USDC-SPL") == 12_500_000
    left = adapter.balance(addr, "SOL")
    assert left >= adapter.rent_exempt_minimum(0)  # the fee payer stayed rent-exempt
    lost = sol_before - adapter.balance(hot, "SOL") - left  # fees + the hot token account's rent
    with transaction(world.factory) as s:
        assert lost > 2 * 5_000
        assert get_balance(s, "expense:network_fees:SOL").balance == lost
        assert get_balance(s, user_wallet(uid, "USDC-SPL")).balance == 12_500_000
        check_invariants(s)
