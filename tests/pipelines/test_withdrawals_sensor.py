"""The withdrawal sensor with build_sensor_context, wired from settings like the code location.

Real settings (master key, anvil's URL and tokens, custody's caps), the real
signer and adapters the sensor builds itself, the Ethereum stand-in: an idle
tick builds nothing and says so; a held withdrawal is sent and, one block deep,
posted; one above the configured signer cap fails with its hold voided. The
code location runs the sensor inside the shared outbox tick.
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
from sqlalchemy import select

import pipelines.resources
from pipelines.resources import WalletDatabase
from sensors import withdrawals as worker
from tests.chains.eth_fixtures import admin, eth
from tests.chains.helpers import Custody, make_custody
from tests.webapp.conftest import settings_for
from wallet.assets import Chain
from wallet.chains.evm import EvmAdapter
from wallet.chains.networks import NetworkKind, network
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.custody.withdrawals import WithdrawalLimits, request_withdrawal
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance, post_entry, user_wallet

__all__ = ["admin", "eth"]  # fixtures

LIMITS = WithdrawalLimits(minimum={"ETH": 1}, maximum={"ETH": 10**20})
CAP = 3 * 10**17


@pytest.fixture
def wired(
    eth: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Custody, WalletDatabase]]:
    """Custody seeds under a master key, and the settings the sensor builds everything from."""
    world = make_custody(tmp_path / "w.db")
    url = f"sqlite:///{tmp_path / 'w.db'}"
    settings = settings_for(
        tmp_path,
        url,
        wallet_master_key=SecretStr(base64.b64encode(world.master).decode()),
        eth_rpc_url=eth["url"],
        token_contracts=dict(eth["settings"]["token_contracts"]),
        custody_confirmations={"ETH": 1},
        custody_signer_per_tx_cap={"ETH": CAP},
    )
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: settings)
    monkeypatch.setattr(worker, "_deps", worker.SettingsDeps())  # nothing from other tests
    yield world, WalletDatabase(database_url=url)
    worker._deps._close()


def _tick(db: WalletDatabase) -> str:
    result = worker.withdrawals_sensor(dg.build_sensor_context(resources={"db": db}))
    assert isinstance(result, dg.SkipReason)
    return result.skip_message or ""


def _request(world: Custody, uid: int, amount: int) -> tuple[str, str]:
    key, to = f"sens-{uuid.uuid4().hex[:8]}", Account.create().address
    with transaction(world.factory) as s:
        request_withdrawal(
            s, key=key, user_id=uid, net=network(Chain.ETHEREUM, NetworkKind.SANDBOX),
            asset="ETH", to_address=to, amount_minor=amount, limits=LIMITS,
        )  # fmt: skip
    return key, to


def _status(world: Custody, key: str) -> Withdrawal:
    with world.factory() as s:
        row = s.scalars(select(Withdrawal).where(Withdrawal.key == key)).one()
        s.expunge(row)
        return row


def test_idle_then_sent_and_posted_then_refused_over_the_configured_cap(
    wired: tuple[Custody, WalletDatabase], eth: dict[str, Any], admin: httpx.Client
) -> None:
    world, db = wired
    assert _tick(db) == "withdrawals: no withdrawal to move"
    assert worker._deps._deps is None  # an idle tick built no signer and no adapter

    hot = world.platform(Chain.ETHEREUM)
    reply = admin.post("/__sandbox/fund", json={"address": hot, "asset": "ETH", "amount": "1"})
    assert reply.status_code == 200, reply.text
    uid = world.user(f"sens-{uuid.uuid4().hex[:8]}@example.com")
    with transaction(world.factory) as s:  # the payer's confirmed deposit, already swept
        post_entry(
            s, [("hot:ethereum:ETH", "ETH", 10**18), (user_wallet(uid, "ETH"), "ETH", -10**18)],
            kind="test.deposit", ref=f"dep-{uuid.uuid4().hex[:8]}",
        )  # fmt: skip

    key, to = _request(world, uid, 2 * 10**17)
    assert _tick(db) == "withdrawals: sent=1 posted=1 failed=0 pending=0"
    row = _status(world, key)
    assert row.status is WithdrawalStatus.POSTED and row.txid
    over, over_to = _request(world, uid, CAP + 1)  # the settings' cap, not a default
    assert _tick(db) == "withdrawals: sent=0 posted=0 failed=1 pending=0"
    adapter = EvmAdapter(eth["url"], {}, chain_id=31337)
    try:
        assert adapter.balance(to, "ETH") == 2 * 10**17
        assert adapter.balance(over_to, "ETH") == 0
    finally:
        adapter.close()
    refused = _status(world, over)
    assert (refused.status, refused.error_code) == (
        WithdrawalStatus.FAILED,
        "signer_per_tx_cap_exceeded",
    )
    assert _tick(db) == "withdrawals: no withdrawal to move"
    with world.factory() as s:
        wallet = get_balance(s, user_wallet(uid, "ETH"))
        assert (wallet.balance, wallet.held) == (8 * 10**17, 0)  # debited once, refusal voided
        check_invariants(s)


def test_the_code_location_runs_it_in_the_shared_outbox_tick() -> None:
    from pipelines.definitions import defs

    outbox = defs.get_sensor_def("outbox_sensor")
    assert "withdrawals_sensor" in (outbox.description or "")
    assert outbox.minimum_interval_seconds is not None and outbox.minimum_interval_seconds <= 15
