"""A low float queues payouts and alerts; a down venue makes the sale wait or fail over."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox.razorpayx.testing import start_razorpayx, stop_razorpayx
from tests.settlement.helpers import custodial_payment, deps_for
from wallet.alerts import Alerter, MemoryIncidents
from wallet.db.models import ExchangeOrder, Payment, Payout, PayoutStatus
from wallet.ledger import check_invariants
from wallet.payments.states import PaymentStatus
from wallet.settlement.models import SellBatch
from wallet.settlement.service import refresh_payout, settle_pass


def _status(factory: sessionmaker[Session], pid: str) -> PaymentStatus:
    with factory() as s:
        return s.get_one(Payment, pid).status


def test_low_float_queues_the_payout_alerts_once_and_pays_after_a_topup(
    factory: sessionmaker[Session], venues: dict[str, Any], tmp_path: Path
) -> None:
    process, rzp = start_razorpayx(
        tmp_path, extra_args=["--balance-paise", "10000", "--process-delay", "0.2"]
    )
    try:
        incidents = MemoryIncidents()
        deps = deps_for(factory, rzp, venues, Alerter(incidents), payout_wait_seconds=0.5)
        first, second = custodial_payment(factory), custodial_payment(factory)
        settle_pass(deps, [first, second], sell=False)
        with factory() as s:
            rows = s.scalars(select(Payout).order_by(Payout.id)).all()
        assert [r.status for r in rows] == [PayoutStatus.QUEUED, PayoutStatus.QUEUED]
        assert list(incidents.open_alerts) == ["float_low:razorpayx"]
        assert incidents.counts["float_low:razorpayx"] == 2  # fired twice, notified once
        httpx.post(f"{rzp['url']}/__sandbox/topup", json={"amount": 10_000_000}, trust_env=False)
        deadline = time.monotonic() + 10
        while _status(factory, second) is not PaymentStatus.PAID_OUT:
            assert time.monotonic() < deadline
            for row in rows:
                refresh_payout(deps, row.idempotency_key)
            time.sleep(0.1)
        assert _status(factory, first) is PaymentStatus.PAID_OUT
        assert len(deps.payouts.find_payouts(first)) == 1
    finally:
        stop_razorpayx(process)


def _faults(info: dict[str, Any], **config: Any) -> None:
    httpx.post(f"{info['url']}/__sandbox/faults", json=config, trust_env=False).raise_for_status()


def test_venue_down_the_vendor_is_paid_and_the_sale_waits(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    pid = custodial_payment(factory)
    _faults(venues["binance"], error_rate=1.0)
    try:
        report = settle_pass(deps, [pid])
    finally:
        _faults(venues["binance"], clear=True)
    assert report.statuses == {pid: "paid_out"} and report.batches_booked == []
    with factory() as s:
        assert s.scalars(select(ExchangeOrder)).all() == []
        assert s.scalars(select(SellBatch.status)).one() == "pending"
    assert settle_pass(deps, None).batches_booked
    assert _status(factory, pid) is PaymentStatus.COMPLETED


def test_primary_venue_down_fails_over_to_the_inr_venue(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    pid = custodial_payment(factory, asset="ETH", inr_paise=300_000)
    _faults(venues["binance"], error_rate=1.0)
    try:
        report = settle_pass(deps, [pid])
    finally:
        _faults(venues["binance"], clear=True)
    assert report.statuses == {pid: "completed"}
    with factory() as s:
        orders = s.scalars(select(ExchangeOrder)).all()
        assert [(o.venue, o.symbol, o.status.value) for o in orders] == [
            ("inr", "ETHINR", "filled")
        ]
        batch = s.scalars(select(SellBatch)).one()
        assert batch.route["failover_from"] == "ETH→USDT@binance→INR@inr"
        check_invariants(s)


def test_a_sale_below_the_venue_minimum_waits_to_grow_with_later_payments(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    small = custodial_payment(factory, inr_paise=20_000)  # ~3 USDT of SOL: under 5 USDT
    assert settle_pass(deps, [small]).statuses == {small: "paid_out"}
    with factory() as s:
        assert s.scalars(select(SellBatch)).all() == []
        assert s.scalars(select(ExchangeOrder)).all() == []
    time.sleep(1.0)  # the next sell window
    other = custodial_payment(factory, inr_paise=30_000)
    report = settle_pass(deps, [other])
    assert report.statuses == {other: "completed"} and len(report.batches_booked) == 1
    assert _status(factory, small) is PaymentStatus.COMPLETED
    with factory() as s:
        batch = s.scalars(select(SellBatch)).one()
        with_quotes = s.scalars(select(Payment.amount_minor)).all()
        assert batch.qty_minor == sum(with_quotes)
        check_invariants(s)
