"""Withdrawals the risk engine holds for review (issue 9): parked with the coins held,
then sent exactly once when an admin approves, or given back when one rejects.

Real risk engine (the deposit-then-spend flag of a fresh chain deposit puts the
withdrawal on hold), ledger, audit log and the Ethereum stand-in (anvil, one block
per transaction); on SQLite, and on PostgreSQL for two admins racing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.chains.helpers import Custody, make_custody
from tests.pg import migrated_schema, race
from wallet.admin import review, withdrawal_review
from wallet.admin.config import AdminConfig
from wallet.admin.errors import ActionRefused, ApprovalNotPending, SecondAdminRequired
from wallet.admin.models import ApprovalStatus
from wallet.assets import Chain, ChainFamily
from wallet.audit import trail
from wallet.chains.evm import EvmAdapter
from wallet.chains.models import ChainBroadcast
from wallet.chains.networks import NetworkKind
from wallet.custody.addresses import PublicKeys
from wallet.custody.deposits import ConfirmationPolicy
from wallet.custody.kms import LocalKeyManager
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.custody.service import scan_chain
from wallet.custody.signer import Signer, SignerPolicy
from wallet.custody.vault import SeedVault
from wallet.custody.withdrawal_review import (
    WithdrawalNotParked,
    park_withdrawal,
    parked_withdrawals,
)
from wallet.custody.withdrawals import execute_withdrawal, settle_withdrawal
from wallet.db.base import utcnow
from wallet.db.models.users import Role, User
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.ledger import check_invariants, get_balance, user_wallet
from wallet.risk import RiskDecisionKind, assess_withdrawal
from wallet.risk.limits import Period, usage

CONFS = 3
POLICY = ConfirmationPolicy({"ETH": CONFS})
CAPS = {"ETH": 5 * 10**18}
CONFIG = AdminConfig(two_admin_threshold_paise=1_000_000)  # ₹10,000
SMALL = 500_000  # ₹5,000: one admin decides
BIG = 2_000_000  # ₹20,000: a second admin must approve


@pytest.fixture
def adapter(eth: dict[str, Any]) -> EvmAdapter:
    return EvmAdapter(eth["url"], dict(eth["settings"]["token_contracts"]), chain_id=31337)


def _ready(world: Custody, adapter: EvmAdapter, admin: httpx.Client) -> Custody:
    """The hot wallet funded and the scan cursor at today's head."""
    hot = world.platform(Chain.ETHEREUM)
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "ETH", "amount": "1"})
    tick(world, adapter)
    return world


@pytest.fixture
def world(eth: dict[str, Any], tmp_path: Path, adapter: EvmAdapter, admin: httpx.Client) -> Custody:
    return _ready(make_custody(tmp_path / "w.db", CAPS), adapter, admin)


def post(admin: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = admin.post(path, json=body)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def tick(world: Custody, adapter: EvmAdapter) -> Any:
    return scan_chain(world.factory, Chain.ETHEREUM, None, adapter=adapter, policy=POLICY)


def deposit(world: Custody, adapter: EvmAdapter, admin: httpx.Client, amount: str) -> int:
    """A fully verified payer whose custodial address just received ``amount`` ETH."""
    uid = world.user(f"wr-{uuid.uuid4().hex[:10]}@example.com")
    with transaction(world.factory) as s:
        s.get_one(User, uid).kyc_tier = 2
    addr = world.address(Chain.ETHEREUM, uid)
    post(admin, "/__sandbox/fund", {"address": addr, "asset": "ETH", "amount": amount})
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    tick(world, adapter)
    with transaction(world.factory) as s:
        assert get_balance(s, user_wallet(uid, "ETH")).available > 0
    return uid


def admins(world: Custody, n: int) -> list[int]:
    ids = []
    with transaction(world.factory) as s:
        for _ in range(n):
            user = User(email=f"adm-{uuid.uuid4().hex[:10]}@example.com", password_hash="x")
            user.role = Role.ADMIN
            s.add(user)
            s.flush()
            ids.append(user.id)
    return ids


def park(world: Custody, uid: int, key: str, amount: int, inr_paise: int) -> int:
    """Ask for a withdrawal the way the web tier does; the risk engine holds it."""
    dest = Account.create().address
    with transaction(world.factory) as s:
        user = s.get_one(User, uid)
        decision = assess_withdrawal(
            s, user, "ethereum", dest, "ETH", amount, inr_paise, None, utcnow(), key=key
        )
        # Spending >= 80 % of a deposit credited minutes ago: the AML hold.
        assert decision.decision is RiskDecisionKind.HOLD_FOR_REVIEW, decision
        assert decision.reasons == ("rapid_deposit_spend",)
        row = park_withdrawal(
            s,
            key=key,
            user_id=uid,
            chain="ethereum",
            asset="ETH",
            to_address=dest,
            amount_minor=amount,
            amount_inr_paise=inr_paise,
            reasons=decision.reasons,
            case_ids=decision.case_ids,
        )
        return row.id


def load(world: Custody, withdrawal_id: int) -> Withdrawal:
    with transaction(world.factory) as s:
        row = s.get_one(Withdrawal, withdrawal_id)
        s.expunge(row)
        return row


def broadcasts(world: Custody) -> int:
    with transaction(world.factory) as s:
        return int(
            s.scalar(
                select(func.count(ChainBroadcast.id)).where(ChainBroadcast.purpose == "withdrawal")
            )
            or 0
        )


def act(world: Custody, action: str, withdrawal_id: int, admin_id: int) -> Any:
    with transaction(world.factory) as s:
        return withdrawal_review.request_action(
            s,
            action,
            withdrawal_id,
            admin=s.get_one(User, admin_id),
            reason="checked the source of funds",
            config=CONFIG,
            now=utcnow(),
        )


def test_parked_is_held_and_unsigned_then_approve_broadcasts_once(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    uid = deposit(world, adapter, admin, "0.3")
    amount = 25 * 10**16  # 0.25 of a 0.3 deposit
    wid = park(world, uid, "wr-approve", amount, SMALL)
    hot = world.platform(Chain.ETHEREUM)
    with transaction(world.factory) as s:
        balance = get_balance(s, user_wallet(uid, "ETH"))
        assert (balance.held, balance.available) == (amount, 3 * 10**17 - amount)
        assert [w.id for w in parked_withdrawals(s)] == [wid]
        check_invariants(s)
    # Custody's worker skips a parked withdrawal: nothing is signed.
    assert execute_withdrawal(world.factory, adapter, world.signer, "wr-approve", hot) is (
        WithdrawalStatus.HELD_FOR_REVIEW
    )
    assert broadcasts(world) == 0

    (first,) = admins(world, 1)
    outcome = act(world, withdrawal_review.RELEASE, wid, first)
    assert outcome.executed and load(world, wid).status is WithdrawalStatus.HELD
    with pytest.raises(WithdrawalNotParked):  # a second approval changes nothing
        act(world, withdrawal_review.RELEASE, wid, first)
    with pytest.raises(WithdrawalNotParked):  # nor can it be rejected any more
        act(world, withdrawal_review.REJECT, wid, first)

    for _ in range(2):  # the worker retried: one signed transfer, one broadcast
        assert execute_withdrawal(world.factory, adapter, world.signer, "wr-approve", hot) is (
            WithdrawalStatus.BROADCAST
        )
    assert broadcasts(world) == 1
    assert settle_withdrawal(world.factory, adapter, "wr-approve") is WithdrawalStatus.POSTED
    row = load(world, wid)
    assert adapter.balance(row.to_address, "ETH") == amount
    with transaction(world.factory) as s:
        balance = get_balance(s, user_wallet(uid, "ETH"))
        assert (balance.balance, balance.held) == (3 * 10**17 - amount, 0)
        check_invariants(s)
        actions = [a.action for a in trail(s, "withdrawal", wid)]
    assert actions == ["withdrawal.held_for_review", "withdrawal.review_released"]


def test_reject_gives_the_coins_and_limits_back(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    uid = deposit(world, adapter, admin, "0.2")
    wid = park(world, uid, "wr-reject", 18 * 10**16, SMALL)
    now = utcnow()
    with transaction(world.factory) as s:
        assert usage(s, "withdrawal", str(uid), Period.DAY, now) == (1, SMALL)
    (first,) = admins(world, 1)
    with pytest.raises(ActionRefused) as info, transaction(world.factory) as s:
        withdrawal_review.request_action(
            s, withdrawal_review.REJECT, wid, admin=s.get_one(User, first),
            reason="  ", config=CONFIG, now=now,
        )  # fmt: skip
    assert info.value.code == "reason_required"
    outcome = act(world, withdrawal_review.REJECT, wid, first)
    assert outcome.executed
    row = load(world, wid)
    assert (row.status, row.error_code, row.txid) == (
        WithdrawalStatus.REJECTED,
        "review_rejected",
        None,
    )
    with transaction(world.factory) as s:
        balance = get_balance(s, user_wallet(uid, "ETH"))
        assert (balance.balance, balance.held, balance.available) == (2 * 10**17, 0, 2 * 10**17)
        assert usage(s, "withdrawal", str(uid), Period.DAY, now) == (0, 0)
        check_invariants(s)
        audit = trail(s, "withdrawal", wid)
    assert [a.action for a in audit] == ["withdrawal.held_for_review", "withdrawal.review_rejected"]
    assert audit[-1].actor == f"admin:{first}"
    hot = world.platform(Chain.ETHEREUM)
    assert execute_withdrawal(world.factory, adapter, world.signer, "wr-reject", hot) is (
        WithdrawalStatus.REJECTED
    )
    assert broadcasts(world) == 0


def test_above_the_threshold_a_second_admin_must_approve(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    uid = deposit(world, adapter, admin, "0.1")
    wid = park(world, uid, "wr-big", 9 * 10**16, BIG)
    first, second = admins(world, 2)
    outcome = act(world, withdrawal_review.RELEASE, wid, first)
    assert not outcome.executed and outcome.approval is not None
    assert load(world, wid).status is WithdrawalStatus.HELD_FOR_REVIEW
    with pytest.raises(ActionRefused):  # one pending request per action and withdrawal
        act(world, withdrawal_review.RELEASE, wid, second)
    approval_id = outcome.approval.id
    with pytest.raises(SecondAdminRequired), transaction(world.factory) as s:
        review.approve(s, approval_id, admin=s.get_one(User, first), now=utcnow())
    with transaction(world.factory) as s:
        done = review.approve(s, approval_id, admin=s.get_one(User, second), now=utcnow())
    assert done.executed
    assert load(world, wid).status is WithdrawalStatus.HELD
    with transaction(world.factory) as s:
        actions = [a.action for a in trail(s, "withdrawal", wid)]
    assert actions == [
        "withdrawal.held_for_review",
        "admin.approval_requested",
        "withdrawal.review_released",
        "admin.approval_approved",
    ]


# --- PostgreSQL: two admins at once --------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A schema of this module's own at Alembic head (custody seeds are one per family)."""
    with migrated_schema(prefix="wr") as url:
        yield url


@pytest.fixture(scope="module")
def pg_world(pg_url: str, eth: dict[str, Any]) -> Iterator[Custody]:
    engine = make_engine(pg_url)
    factory: sessionmaker[Session] = make_session_factory(engine)
    master = os.urandom(32)
    vault = SeedVault(LocalKeyManager(master), NetworkKind.SANDBOX)
    with transaction(factory) as s:
        for family in (ChainFamily.EVM, ChainFamily.SOLANA, ChainFamily.UTXO):
            vault.create_seed(s, family)
    policy = SignerPolicy(per_tx_cap=CAPS, daily_cap={a: c * 10 for a, c in CAPS.items()})
    yield Custody(factory, master, vault, PublicKeys(vault), Signer(vault, policy))
    engine.dispose()


@pytest.mark.postgres
def test_two_admins_approving_at_once_broadcast_once(
    pg_world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    world = _ready(pg_world, adapter, admin)
    hot = world.platform(Chain.ETHEREUM)
    first, second, third = admins(world, 3)

    # Below the threshold: two admins press "approve" together.
    uid = deposit(world, adapter, admin, "0.2")
    small = park(world, uid, "wr-race-small", 19 * 10**16, SMALL)
    results = race(
        lambda: act(world, withdrawal_review.RELEASE, small, first),
        lambda: act(world, withdrawal_review.RELEASE, small, second),
    )
    assert sorted(type(r).__name__ for r in results) == ["Outcome", "WithdrawalNotParked"]

    # Above it: one asks, two others approve the same request together.
    uid2 = deposit(world, adapter, admin, "0.1")
    big = park(world, uid2, "wr-race-big", 9 * 10**16, BIG)
    pending = act(world, withdrawal_review.RELEASE, big, first).approval
    assert pending is not None

    def approve_as(admin_id: int) -> Any:
        with transaction(world.factory) as s:
            return review.approve(s, pending.id, admin=s.get_one(User, admin_id), now=utcnow())

    results = race(lambda: approve_as(second), lambda: approve_as(third))
    executed = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(executed) == 1 and executed[0].executed
    assert len(refused) == 1 and isinstance(refused[0], ApprovalNotPending)
    with transaction(world.factory) as s:
        assert executed[0].approval.status is ApprovalStatus.EXECUTED
        released = [
            a for a in trail(s, "withdrawal", big) if a.action == "withdrawal.review_released"
        ]
        assert len(released) == 1

    # The signer's worker sends each released withdrawal (a retry re-sends the same one).
    for key in ("wr-race-small", "wr-race-big", "wr-race-small", "wr-race-big"):
        status = execute_withdrawal(world.factory, adapter, world.signer, key, hot)
        assert status is WithdrawalStatus.BROADCAST
    assert broadcasts(world) == 2
    for key, wid, amount in (
        ("wr-race-small", small, 19 * 10**16),
        ("wr-race-big", big, 9 * 10**16),
    ):
        assert settle_withdrawal(world.factory, adapter, key) is WithdrawalStatus.POSTED
        assert adapter.balance(load(world, wid).to_address, "ETH") == amount
    with transaction(world.factory) as s:
        assert s.scalar(select(func.count(Withdrawal.id))) == 2
        check_invariants(s)
        assert usage(s, "withdrawal", str(uid), Period.DAY, utcnow())[0] == 1  # kept: sent
