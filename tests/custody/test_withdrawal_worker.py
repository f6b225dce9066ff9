"""Custody's withdrawal worker (advance_withdrawals) against the Ethereum stand-in.

Real signer, ledger, claims and anvil (one block per transaction): a held
withdrawal is broadcast, then posted once deep enough, debiting the payer once;
parked ones are left alone; a signer refusal fails it and gives the coins back,
while a delay (daily cap, node blip while building, keys unavailable) keeps it
held, paused and alerting once too old; a re-send that finds its transaction
already mined still waits for the full confirmation depth;
a row whose step raised waits out a short lease; a crash after signing re-sends
the same transaction. On PostgreSQL, two workers at once broadcast each
withdrawal once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.chains.helpers import Custody, make_custody
from tests.pg import migrated_schema, race
from wallet.assets import Chain, ChainFamily
from wallet.chains.base import Purpose, TransferIntent
from wallet.chains.broadcast import send
from wallet.chains.evm import EvmAdapter
from wallet.chains.models import ChainBroadcast
from wallet.chains.networks import NetworkKind, network
from wallet.custody.addresses import PublicKeys
from wallet.custody.deposits import ConfirmationPolicy
from wallet.custody.kms import LocalKeyManager
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.custody.service import scan_chain
from wallet.custody.signer import Signer, SignerPolicy
from wallet.custody.vault import SeedVault
from wallet.custody.withdrawal_review import park_withdrawal
from wallet.custody.withdrawal_worker import (
    LEASE_SECONDS,
    RETRY_SECONDS,
    WithdrawalDeps,
    WithdrawalReport,
    advance_withdrawals,
)
from wallet.custody.withdrawals import WithdrawalLimits, hold_ref, request_withdrawal
from wallet.db.base import utcnow
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.ledger import check_invariants, get_balance, user_wallet

CONFS = 3
POLICY = ConfirmationPolicy({"ETH": CONFS})
CAPS = {"ETH": 5 * 10**18}
LIMITS = WithdrawalLimits(minimum={"ETH": 1}, maximum={"ETH": 10**20})
NET = network(Chain.ETHEREUM, NetworkKind.SANDBOX)
W = WithdrawalStatus


@pytest.fixture
def adapter(eth: dict[str, Any]) -> Iterator[EvmAdapter]:
    built = EvmAdapter(eth["url"], dict(eth["settings"]["token_contracts"]), chain_id=31337)
    yield built
    built.close()


def post(admin: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = admin.post(path, json=body)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def tick(world: Custody, adapter: EvmAdapter) -> Any:
    return scan_chain(world.factory, Chain.ETHEREUM, None, adapter=adapter, policy=POLICY)


def ready(world: Custody, adapter: EvmAdapter, admin: httpx.Client) -> Custody:
    """The hot wallet funded on chain and the scan cursor at today's head."""
    hot = world.platform(Chain.ETHEREUM)
    post(admin, "/__sandbox/fund", {"address": hot, "asset": "ETH", "amount": "2"})
    tick(world, adapter)
    return world


@pytest.fixture
def world(eth: dict[str, Any], tmp_path: Path, adapter: EvmAdapter, admin: httpx.Client) -> Custody:
    return ready(make_custody(tmp_path / "w.db", CAPS), adapter, admin)


def deps(world: Custody, adapter: EvmAdapter, **overrides: Any) -> Callable[[], WithdrawalDeps]:
    values: dict[str, Any] = {
        "signer": world.signer,
        "adapters": {"ethereum": lambda: adapter},
        "policy": POLICY,
        "keys": world.keys,
    }
    values.update(overrides)
    built = WithdrawalDeps(**values)
    return lambda: built


def payer(world: Custody, adapter: EvmAdapter, admin: httpx.Client, amount: str) -> int:
    """A payer whose custodial address received ``amount`` ETH, credited after CONFS."""
    uid = world.user(f"ww-{uuid.uuid4().hex[:10]}@example.com")
    address = world.address(Chain.ETHEREUM, uid)
    post(admin, "/__sandbox/fund", {"address": address, "asset": "ETH", "amount": amount})
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    tick(world, adapter)
    return uid


def request(world: Custody, uid: int, key: str, amount: int, **detail: str) -> str:
    """A held withdrawal of ``amount`` wei to a fresh external address; its address."""
    to = Account.create().address
    with transaction(world.factory) as s:
        row = request_withdrawal(
            s, key=key, user_id=uid, net=NET, asset="ETH", to_address=to,
            amount_minor=amount, limits=LIMITS,
        )  # fmt: skip
        if detail:
            row.detail = dict(detail)
    return to


def load(world: Custody, key: str) -> Withdrawal:
    with world.factory() as s:
        row = s.scalars(select(Withdrawal).where(Withdrawal.key == key)).one()
        s.expunge(row)
        return row


def balance(world: Custody, uid: int) -> tuple[int, int]:
    """(balance, held) of the payer's ETH wallet."""
    with world.factory() as s:
        b = get_balance(s, user_wallet(uid, "ETH"))
        return b.balance, b.held


def broadcasts(world: Custody) -> int:
    with world.factory() as s:
        return int(
            s.scalar(
                select(func.count(ChainBroadcast.id)).where(ChainBroadcast.purpose == "withdrawal")
            )
            or 0
        )


def advance(world: Custody, provider: Callable[[], WithdrawalDeps], **kw: Any) -> WithdrawalReport:
    kw.setdefault("worker_id", "worker-a")
    return advance_withdrawals(world.factory, provider, **kw)


def test_held_is_broadcast_then_posted_once_deep_enough_and_parked_is_left_alone(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    uid = payer(world, adapter, admin, "0.5")
    deposit = 5 * 10**17
    amount = 2 * 10**17
    to = request(world, uid, "ww-send", amount)
    parked_to = Account.create().address
    with transaction(world.factory) as s:
        park_withdrawal(
            s, key="ww-parked", user_id=uid, chain="ethereum", asset="ETH",
            to_address=parked_to, amount_minor=10**17, amount_inr_paise=500_000,
            reasons=("rapid_deposit_spend",), case_ids=(),
        )  # fmt: skip
    built: list[int] = []
    inner = deps(world, adapter)

    def provider() -> WithdrawalDeps:
        built.append(1)
        return inner()

    first = advance(world, provider)
    assert (first.sent, first.posted, first.failed, first.pending) == (["ww-send"], [], [], 1)
    row = load(world, "ww-send")
    assert row.status is W.BROADCAST and row.txid and row.claimed_by is None
    assert balance(world, uid) == (deposit, amount + 10**17)  # both held, nothing posted yet

    again = advance(world, provider)  # no new block: still one confirmation of CONFS
    assert (again.sent, again.posted, again.pending) == ([], [], 1)
    assert broadcasts(world) == 1

    post(admin, "/__sandbox/mine", {"blocks": CONFS - 1})
    done = advance(world, provider)
    assert (done.sent, done.posted, done.failed, done.pending) == ([], ["ww-send"], [], 0)
    assert load(world, "ww-send").status is W.POSTED
    assert adapter.balance(to, "ETH") == amount
    assert balance(world, uid) == (deposit - amount, 10**17)  # debited once; parked still held

    statements: list[str] = []
    engine = world.factory.kw["bind"]

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        idle = advance(world, provider)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert idle.idle and str(idle) == "no withdrawal to move"
    queries = [q for q in statements if not q.startswith("BEGIN")]
    assert len(queries) == 1 and "FROM withdrawals" in queries[0]  # one query, no RPC
    assert len(built) == 3  # the idle pass built no signer or adapter
    assert balance(world, uid) == (deposit - amount, 10**17)
    parked = load(world, "ww-parked")
    assert (parked.status, parked.txid, parked.claimed_by) == (W.HELD_FOR_REVIEW, None, None)
    assert adapter.balance(parked_to, "ETH") == 0
    assert broadcasts(world) == 1
    with world.factory() as s:
        check_invariants(s)


def test_confirmations_follow_the_deposit_rule_for_the_recorded_value(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    """No override: ₹1,000 of ETH is the small tier (12 blocks), as a deposit would be."""
    uid = payer(world, adapter, admin, "0.1")
    request(world, uid, "ww-tier", 10**16, amount_inr_paise="100000")
    provider = deps(world, adapter, policy=ConfirmationPolicy())
    assert advance(world, provider).sent == ["ww-tier"]
    post(admin, "/__sandbox/mine", {"blocks": 10})  # 11 deep
    assert advance(world, provider).pending == 1
    post(admin, "/__sandbox/mine", {"blocks": 1})  # 12 deep
    assert advance(world, provider).posted == ["ww-tier"]
    with world.factory() as s:
        check_invariants(s)


def test_a_signer_refusal_fails_the_withdrawal_and_voids_the_hold(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    uid = payer(world, adapter, admin, "0.3")
    to = request(world, uid, "ww-overcap", 2 * 10**17)
    strict = Signer(
        world.vault, SignerPolicy(per_tx_cap={"ETH": 10**17}, daily_cap={"ETH": 10**18})
    )
    report = advance(world, deps(world, adapter, signer=strict))
    assert (report.sent, report.failed, report.errors) == ([], ["ww-overcap"], [])
    row = load(world, "ww-overcap")
    assert (row.status, row.error_code, row.txid) == (
        W.FAILED,
        "signer_per_tx_cap_exceeded",
        None,
    )
    assert balance(world, uid) == (3 * 10**17, 0)  # the coins are the payer's again
    assert broadcasts(world) == 0 and adapter.balance(to, "ETH") == 0
    assert advance(world, deps(world, adapter)).idle  # failed is terminal: never sent later
    with world.factory() as s:
        check_invariants(s)


def test_a_step_that_raises_is_retried_after_a_pause_by_any_worker(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    uid = payer(world, adapter, admin, "0.1")
    request(world, uid, "ww-retry", 5 * 10**16)
    t0 = utcnow()
    broken = advance(world, deps(world, adapter, adapters={}), now=t0)
    assert broken.errors and broken.errors[0][0] == "ww-retry"
    assert "no adapter configured for ethereum" in broken.errors[0][1]
    row = load(world, "ww-retry")
    assert (row.status, row.claimed_by) == (W.HELD, "worker-a")
    assert balance(world, uid)[1] == 5 * 10**16  # still held, nothing refunded

    healthy = deps(world, adapter)
    early = t0 + timedelta(seconds=RETRY_SECONDS - 5)
    assert advance(world, healthy, worker_id="worker-b", now=early).idle
    later = t0 + timedelta(seconds=RETRY_SECONDS + 1)
    assert advance(world, healthy, worker_id="worker-b", now=later).sent == ["ww-retry"]
    assert broadcasts(world) == 1


def test_a_crash_after_signing_resends_the_same_transaction(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    """A worker signed and recorded the transfer, then died before marking the withdrawal."""
    uid = payer(world, adapter, admin, "0.1")
    to = request(world, uid, "ww-crash", 4 * 10**16)
    t0 = utcnow()
    with transaction(world.factory) as s:  # the dead worker's claim
        s.execute(
            update(Withdrawal)
            .where(Withdrawal.key == "ww-crash")
            .values(claimed_by="dead", lease_expires_at=t0 + timedelta(seconds=LEASE_SECONDS))
        )
    hot = world.platform(Chain.ETHEREUM)
    intent = TransferIntent(
        hold_ref("ww-crash"), Chain.ETHEREUM, "ETH", hot, to, 4 * 10**16, Purpose.WITHDRAWAL
    )
    first = send(world.factory, adapter, world.signer, intent)
    provider = deps(world, adapter)
    assert advance(world, provider, now=t0 + timedelta(seconds=5)).idle  # the lease still lives
    report = advance(world, provider, now=t0 + timedelta(seconds=LEASE_SECONDS + 1))
    assert report.sent == ["ww-crash"] and not report.errors
    assert load(world, "ww-crash").txid == first.txid  # re-sent, not re-signed
    assert broadcasts(world) == 1
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    posted = report.posted + advance(world, provider).posted
    assert posted == ["ww-crash"] and load(world, "ww-crash").status is W.POSTED
    assert adapter.balance(to, "ETH") == 4 * 10**16
    assert balance(world, uid) == (6 * 10**16, 0)
    with world.factory() as s:
        check_invariants(s)


def test_a_broadcast_the_node_refused_is_sent_again_not_signed_again(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    uid = payer(world, adapter, admin, "0.1")
    to = request(world, uid, "ww-refused", 3 * 10**16)
    faults = {"match": "eth_sendRawTransaction", "error_next": 10}
    admin.post("/__sandbox/faults", json=faults).raise_for_status()
    provider = deps(world, adapter)
    first = advance(world, provider)
    assert (first.sent, first.pending, first.errors) == (["ww-refused"], 1, [])
    txid = load(world, "ww-refused").txid
    assert txid and adapter.balance(to, "ETH") == 0  # signed and recorded, not on chain
    admin.post("/__sandbox/faults", json={"clear": True}).raise_for_status()

    again = advance(world, provider)  # the node is back: the same bytes go out
    assert (again.sent, again.pending) == ([], 1)
    assert adapter.balance(to, "ETH") == 3 * 10**16
    assert broadcasts(world) == 1 and load(world, "ww-refused").txid == txid
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    assert advance(world, provider).posted == ["ww-refused"]
    assert balance(world, uid) == (7 * 10**16, 0)
    with world.factory() as s:
        check_invariants(s)


def test_a_broadcast_that_landed_despite_an_error_still_waits_for_the_full_depth(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    """The node took the transaction but the answer was lost; the re-send finds it mined.

    The re-send's look-up must not record it confirmed at one block: the
    withdrawal posts only at the depth its own rule (CONFS) asks for.
    """
    uid = payer(world, adapter, admin, "0.1")
    to = request(world, uid, "ww-lost-answer", 2 * 10**16)
    faults = {"match": "eth_sendRawTransaction", "drop_next": 1}
    admin.post("/__sandbox/faults", json=faults).raise_for_status()
    provider = deps(world, adapter)
    first = advance(world, provider)
    assert (first.sent, first.pending, first.errors) == (["ww-lost-answer"], 1, [])
    assert adapter.balance(to, "ETH") == 2 * 10**16  # mined: one block deep

    again = advance(world, provider)  # the recorded error makes the worker send again
    assert (again.posted, again.pending, again.errors) == ([], 1, [])
    with world.factory() as s:
        recorded = s.scalars(
            select(ChainBroadcast).where(ChainBroadcast.key == hold_ref("ww-lost-answer"))
        ).one()
        assert (recorded.status.value, recorded.error) == ("sent", None)
    assert load(world, "ww-lost-answer").status is W.BROADCAST
    assert balance(world, uid) == (10**17, 2 * 10**16)  # still only held

    post(admin, "/__sandbox/mine", {"blocks": CONFS - 2})  # CONFS - 1 deep
    assert advance(world, provider).pending == 1
    post(admin, "/__sandbox/mine", {"blocks": 1})
    assert advance(world, provider).posted == ["ww-lost-answer"]
    assert balance(world, uid) == (8 * 10**16, 0)
    assert broadcasts(world) == 1
    with world.factory() as s:
        check_invariants(s)


def test_a_daily_cap_delays_the_withdrawal_and_alerts_if_it_stays_held(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client
) -> None:
    """The daily cap resets at midnight: the withdrawal waits held, not failed."""
    from wallet.alerts.conditions import withdrawals_stuck

    uid = payer(world, adapter, admin, "0.5")
    to = request(world, uid, "ww-daily", 2 * 10**17)
    capped = Signer(
        world.vault, SignerPolicy(per_tx_cap={"ETH": 10**18}, daily_cap={"ETH": 10**17})
    )
    t0 = utcnow()
    report = advance(world, deps(world, adapter, signer=capped), now=t0)
    assert (report.sent, report.failed, report.errors) == ([], [], [])
    assert report.delayed == [("ww-daily", "signer_daily_cap_exceeded")]
    assert "delayed=1" in str(report)
    row = load(world, "ww-daily")
    assert (row.status, row.error_code, row.txid) == (W.HELD, "signer_daily_cap_exceeded", None)
    assert row.claimed_by == "worker-a"  # paused, not released: no retry every tick
    assert balance(world, uid) == (5 * 10**17, 2 * 10**17)  # still on hold, not given back
    assert broadcasts(world) == 0 and adapter.balance(to, "ETH") == 0

    with world.factory() as s:
        assert withdrawals_stuck(s, t0, 3600).firing == ()
        stuck = withdrawals_stuck(s, t0 + timedelta(hours=2), 3600)
    assert [a.key for a in stuck.firing] == ["withdrawal_stuck:ww-daily"]
    assert stuck.firing[0].data["error_code"] == "signer_daily_cap_exceeded"

    assert advance(world, deps(world, adapter), now=t0 + timedelta(seconds=5)).idle  # paused
    later = t0 + timedelta(seconds=RETRY_SECONDS + 1)
    assert advance(world, deps(world, adapter), now=later).sent == ["ww-daily"]  # a new day
    row = load(world, "ww-daily")
    assert (row.status, row.error_code) == (W.BROADCAST, None)
    with world.factory() as s:  # broadcast just now: counted afresh from the broadcast
        assert withdrawals_stuck(s, utcnow() + timedelta(minutes=59), 3600).firing == ()
        late = withdrawals_stuck(s, utcnow() + timedelta(hours=2), 3600)
    assert [a.data["status"] for a in late.firing] == ["broadcast"]
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    assert advance(world, deps(world, adapter)).posted == ["ww-daily"]
    assert balance(world, uid) == (3 * 10**17, 0)
    with world.factory() as s:
        check_invariants(s)


@pytest.mark.parametrize(
    ("label", "kind", "code"),
    [
        ("node blip while building", "node", "chain_error"),
        ("master key unavailable", "key", "custody_key_unavailable"),
    ],
)
def test_transient_errors_before_signing_leave_the_withdrawal_held(
    world: Custody, adapter: EvmAdapter, admin: httpx.Client, label: str, kind: str, code: str
) -> None:
    uid = payer(world, adapter, admin, "0.1")
    request(world, uid, "ww-transient", 3 * 10**16)
    signer = world.signer
    if kind == "node":
        faults = {"match": "eth_getTransactionCount", "error_next": 1}
        admin.post("/__sandbox/faults", json=faults).raise_for_status()
    else:  # a signer whose master key cannot unwrap the seeds (e.g. a botched rotation)
        wrong = SeedVault(LocalKeyManager(os.urandom(32)), NetworkKind.SANDBOX)
        signer = Signer(wrong, world.signer.policy)
    t0 = utcnow()
    report = advance(world, deps(world, adapter, signer=signer), now=t0)
    admin.post("/__sandbox/faults", json={"clear": True}).raise_for_status()
    assert report.delayed == [("ww-transient", code)], label
    assert (report.failed, report.errors) == ([], [])
    row = load(world, "ww-transient")
    assert (row.status, row.error_code, row.txid) == (W.HELD, code, None)
    assert balance(world, uid) == (10**17, 3 * 10**16)
    assert broadcasts(world) == 0
    retry = advance(world, deps(world, adapter), now=t0 + timedelta(seconds=RETRY_SECONDS + 1))
    assert retry.sent == ["ww-transient"]
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    assert advance(world, deps(world, adapter)).posted == ["ww-transient"]
    assert balance(world, uid) == (7 * 10**16, 0)
    with world.factory() as s:
        check_invariants(s)


# --- PostgreSQL: two workers at once ------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A schema of this module's own at Alembic head (custody seeds are one per family)."""
    with migrated_schema(prefix="ww") as url:
        yield url


@pytest.fixture(scope="module")
def pg_world(pg_url: str) -> Iterator[Custody]:
    engine = make_engine(pg_url)
    factory: sessionmaker[Session] = make_session_factory(engine)
    vault = SeedVault(LocalKeyManager(master := os.urandom(32)), NetworkKind.SANDBOX)
    with transaction(factory) as s:
        for family in (ChainFamily.EVM, ChainFamily.SOLANA, ChainFamily.UTXO):
            vault.create_seed(s, family)
    policy = SignerPolicy(per_tx_cap=CAPS, daily_cap={a: c * 10 for a, c in CAPS.items()})
    yield Custody(factory, master, vault, PublicKeys(vault), Signer(vault, policy))
    engine.dispose()


@pytest.mark.postgres
def test_two_workers_at_once_broadcast_each_withdrawal_once(
    pg_world: Custody, eth: dict[str, Any], adapter: EvmAdapter, admin: httpx.Client
) -> None:
    world = ready(pg_world, adapter, admin)
    uid = payer(world, adapter, admin, "0.5")
    keys = [f"ww-pg-{n}" for n in range(5)]
    payees = {key: request(world, uid, key, 5 * 10**16) for key in keys}

    def worker(name: str) -> Callable[[], WithdrawalReport]:
        own = EvmAdapter(eth["url"], dict(eth["settings"]["token_contracts"]), chain_id=31337)
        provider = deps(world, own)
        # limit 3: neither worker can take all five, so both must work the queue.
        return lambda: advance_withdrawals(world.factory, provider, worker_id=name, limit=3)

    first, second = race(worker("pg-a"), worker("pg-b"))
    assert isinstance(first, WithdrawalReport) and isinstance(second, WithdrawalReport)
    assert not first.errors and not second.errors
    assert not set(first.sent) & set(second.sent)  # nobody sent what the other sent
    sent = first.sent + second.sent
    assert len(sent) == len(set(sent))
    while len(sent) < len(keys):  # whatever neither claimed in the race goes next pass
        more = advance_withdrawals(world.factory, deps(world, adapter), worker_id="pg-a")
        assert more.sent and not more.errors
        sent += more.sent
    assert sorted(sent) == keys
    assert broadcasts(world) == len(keys)
    post(admin, "/__sandbox/mine", {"blocks": CONFS})
    settled = advance_withdrawals(world.factory, deps(world, adapter), worker_id="pg-b")
    assert sorted(settled.posted) == keys
    for to in payees.values():
        assert adapter.balance(to, "ETH") == 5 * 10**16
    assert balance(world, uid) == (5 * 10**17 - 5 * 5 * 10**16, 0)
    with world.factory() as s:
        check_invariants(s)
