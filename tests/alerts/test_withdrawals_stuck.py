"""``withdrawal_stuck``: a payer's withdrawal held or broadcast too long alerts, then resolves.

Withdrawals are requested and parked through the domain layer (a real hold
on a real ledger balance, SQLite); the clock the condition is given moves
instead of the rows' timestamps, except where a test states when a step
happened (the worker's broadcast stamp, an admin's release).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.alerts.test_monitor import Clock, Inbox
from tests.observability.support import sqlite_db
from wallet.alerts import conditions
from wallet.alerts.monitor import Check, Monitor
from wallet.assets import Chain
from wallet.chains.networks import NetworkKind, network
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.custody.withdrawal_review import park_withdrawal, release_withdrawal
from wallet.custody.withdrawals import WithdrawalLimits, request_withdrawal
from wallet.db.models import User
from wallet.db.models.ops import AuditLog
from wallet.db.session import transaction
from wallet.ledger import post_entry, user_wallet

LIMIT = 3600
LIMITS = WithdrawalLimits(minimum={"ETH": 1}, maximum={"ETH": 10**20})
NET = network(Chain.ETHEREUM, NetworkKind.SANDBOX)
W = WithdrawalStatus


@pytest.fixture
def factory(tmp_path: Path) -> sessionmaker[Session]:
    return sqlite_db(tmp_path)[1]


def payer(factory: sessionmaker[Session], wei: int) -> int:
    """A payer holding ``wei`` (a deposit entry: hot Dr / user Cr)."""
    with transaction(factory) as s:
        user = User(email=f"ws-{uuid.uuid4().hex[:8]}@example.com", password_hash="x")
        s.add(user)
        s.flush()
        post_entry(
            s,
            [("hot:ethereum:ETH", "ETH", wei), (user_wallet(user.id, "ETH"), "ETH", -wei)],
            kind="deposit.credit",
            ref=f"test:{user.id}",
        )
        return user.id


def withdraw(factory: sessionmaker[Session], uid: int, key: str, wei: int) -> None:
    with transaction(factory) as s:
        request_withdrawal(
            s, key=key, user_id=uid, net=NET, asset="ETH", to_address=Account.create().address,
            amount_minor=wei, limits=LIMITS,
        )  # fmt: skip


def set_row(factory: sessionmaker[Session], key: str, **values: object) -> None:
    with transaction(factory) as s:
        s.execute(update(Withdrawal).where(Withdrawal.key == key).values(**values))


def check(factory: sessionmaker[Session], now: datetime) -> Check:
    with factory() as s:
        return conditions.withdrawals_stuck(s, now, LIMIT)


def keys(found: Check) -> list[str]:
    return sorted(a.key for a in found.firing)


def test_held_and_broadcast_withdrawals_alert_past_the_limit_and_resolve_when_they_move(
    factory: sessionmaker[Session],
) -> None:
    uid = payer(factory, 10**18)
    withdraw(factory, uid, "ws-held", 10**17)
    withdraw(factory, uid, "ws-sent", 10**17)
    withdraw(factory, uid, "ws-done", 10**17)
    with factory() as s:
        created = s.scalar(select(Withdrawal.created_at).where(Withdrawal.key == "ws-held"))
    assert created is not None
    set_row(factory, "ws-held", error_code="signer_daily_cap_exceeded")  # the worker's delay
    # Broadcast shortly before the limit runs out, counted from the broadcast, not the request.
    sent_at = created + timedelta(seconds=LIMIT - 60)
    set_row(factory, "ws-sent", status=W.BROADCAST, detail={"broadcast_at": sent_at.isoformat()})
    set_row(factory, "ws-done", status=W.POSTED)

    assert check(factory, created + timedelta(seconds=LIMIT - 1)).firing == ()
    late = check(factory, created + timedelta(seconds=LIMIT + 10))
    assert keys(late) == ["withdrawal_stuck:ws-held"]
    alert = late.firing[0]
    assert alert.data["status"] == "held" and alert.data["error_code"] == (
        "signer_daily_cap_exceeded"
    )
    assert "signer_daily_cap_exceeded" in alert.message and alert.data["age_seconds"] > LIMIT

    later = created + timedelta(seconds=2 * LIMIT)
    assert keys(check(factory, later)) == ["withdrawal_stuck:ws-held", "withdrawal_stuck:ws-sent"]

    clock, inbox = Clock(), Inbox()
    monitor = Monitor.in_database(factory, [inbox], quiet_seconds=0, clock=clock)
    assert sorted(monitor.evaluate(check(factory, later)).opened) == [
        "withdrawal_stuck:ws-held",
        "withdrawal_stuck:ws-sent",
    ]
    assert sorted(monitor.evaluate(check(factory, later)).repeated) == [
        "withdrawal_stuck:ws-held",
        "withdrawal_stuck:ws-sent",
    ]
    set_row(factory, "ws-held", status=W.BROADCAST, detail={"broadcast_at": later.isoformat()})
    set_row(factory, "ws-sent", status=W.POSTED)
    assert sorted(monitor.evaluate(check(factory, later)).resolved) == [
        "withdrawal_stuck:ws-held",
        "withdrawal_stuck:ws-sent",
    ]
    assert [e for e in inbox.got if e[0] == "resolved"] != []


def test_a_review_counts_from_the_release_not_the_request(factory: sessionmaker[Session]) -> None:
    """Parked withdrawals are the reviewers' queue; once released, the clock restarts."""
    uid = payer(factory, 10**18)
    with transaction(factory) as s:
        row = park_withdrawal(
            s, key="ws-review", user_id=uid, chain="ethereum", asset="ETH",
            to_address=Account.create().address, amount_minor=10**17,
            amount_inr_paise=500_000, reasons=("rapid_deposit_spend",), case_ids=(),
        )  # fmt: skip
        wid, created = row.id, row.created_at
    parked_for_long = created + timedelta(seconds=3 * LIMIT)
    assert check(factory, parked_for_long).firing == ()  # held_for_review: not this alert
    with transaction(factory) as s:
        release_withdrawal(s, wid, actor="admin:1", reason="known payer")
    released = created + timedelta(seconds=3 * LIMIT - 5)
    with transaction(factory) as s:
        s.execute(
            update(AuditLog)
            .where(AuditLog.action == "withdrawal.review_released")
            .values(at=released)
        )
    assert check(factory, parked_for_long).firing == ()  # held 5 s since the release
    assert keys(check(factory, released + timedelta(seconds=LIMIT + 1))) == [
        "withdrawal_stuck:ws-review"
    ]
