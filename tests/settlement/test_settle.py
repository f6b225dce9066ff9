"""Settlement against the real RazorpayX and exchange stand-ins, on both databases."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import custodial_payment, deps_for, settle_until_reversed
from wallet.alerts import Alerter, MemoryIncidents
from wallet.db.models import (
    ExchangeOrder,
    OutboxMessage,
    Payment,
    Payout,
    PayoutStatus,
    SettlementAttempt,
)
from wallet.db.models.payments import Quote
from wallet.ledger import check_invariants, get_balance
from wallet.payments.states import PaymentStatus
from wallet.settlement.models import SellBatch
from wallet.settlement.service import settle_pass


def _balance(deps: Any, venue: str, asset: str) -> Decimal:
    return deps.exchanges[venue].balances()[asset].total


def _faults(info: dict[str, Any], **config: Any) -> None:
    httpx.post(f"{info['url']}/__sandbox/faults", json=config, trust_env=False).raise_for_status()


def test_custodial_sol_payment_is_paid_sold_booked_and_completed(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    pid = custodial_payment(factory, inr_paise=50_000)
    sol_before = _balance(deps, "binance", "SOL")

    report = settle_pass(deps, [pid])

    assert report.statuses == {pid: "completed"}
    remote = deps.payouts.find_payouts(pid)
    assert [(p.status.value, p.amount_paise) for p in remote] == [("processed", 50_000)]
    with factory() as s:
        payment = s.get_one(Payment, pid)
        quote = s.get_one(Quote, payment.quote_id)
        payout = s.scalars(select(Payout).where(Payout.payment_id == pid)).one()
        assert payout.status is PayoutStatus.PROCESSED and payout.utr == remote[0].utr
        batch = s.scalars(select(SellBatch)).one()
        assert batch.qty_minor == payment.amount_minor
        orders = s.scalars(select(ExchangeOrder).order_by(ExchangeOrder.client_order_id)).all()
        assert [(o.symbol, o.status.value) for o in orders] == [
            ("SOLUSDT", "filled"),
            ("USDTINR", "filled"),
        ]
        assert batch.proceeds_paise == orders[1].quote_qty
        # The books: vendor paid from the float, nothing left owed, INR position closed.
        assert get_balance(s, "float:INR").balance == -50_000
        assert get_balance(s, "payout_clearing:INR").balance == 0
        assert get_balance(s, "external:trading:INR").balance == 0
        fees = get_balance(s, "revenue:fees:INR").balance
        assert fees == quote.fees["target_paise"] - 50_000
        fx = get_balance(s, "revenue:fx:INR").balance
        assert fx == batch.proceeds_paise - quote.fees["target_paise"]
        check_invariants(s)
    sold = Decimal(orders[0].filled_qty) / 10**9
    assert sol_before - _balance(deps, "binance", "SOL") == sold


def test_rerunning_a_settled_payment_changes_nothing(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    pid = custodial_payment(factory)
    settle_pass(deps, [pid])
    with factory() as s:
        counts = [s.scalar(select(func.count(m.id))) for m in (Payout, ExchangeOrder, SellBatch)]
    settle_pass(deps, [pid])
    settle_pass(deps, None)
    with factory() as s:
        assert [s.scalar(select(func.count(m.id))) for m in (Payout, ExchangeOrder, SellBatch)] == (
            counts
        )
    assert len(deps.payouts.find_payouts(pid)) == 1


def test_ambiguous_payout_and_sell_answers_make_no_duplicates(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    pid = custodial_payment(factory)
    _faults(rzp, match="POST /v1/payouts", drop_next=1)
    _faults(venues["binance"], match="POST /api/v3/order", drop_next=1)
    sol_before = _balance(deps, "binance", "SOL")
    try:
        report = settle_pass(deps, [pid])
    finally:
        _faults(rzp, clear=True)
        _faults(venues["binance"], clear=True)
    assert report.statuses == {pid: "completed"}
    assert len(deps.payouts.find_payouts(pid)) == 1
    with factory() as s:
        order = s.scalars(select(ExchangeOrder).where(ExchangeOrder.symbol == "SOLUSDT")).one()
    assert sol_before - _balance(deps, "binance", "SOL") == Decimal(order.filled_qty) / 10**9


def test_timeout_after_fill_is_resolved_by_looking_the_order_up(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    pid = custodial_payment(factory)
    _faults(venues["binance"], extra={"timeout_after_fill": 1})
    sol_before = _balance(deps, "binance", "SOL")
    try:
        assert settle_pass(deps, [pid]).statuses == {pid: "completed"}
    finally:
        _faults(venues["binance"], clear=True)
    with factory() as s:
        order = s.scalars(select(ExchangeOrder).where(ExchangeOrder.symbol == "SOLUSDT")).one()
        assert order.raw["recovered"] is True
    assert sol_before - _balance(deps, "binance", "SOL") == Decimal(order.filled_qty) / 10**9


def test_failed_payouts_retry_under_new_keys_then_hold_for_review(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    incidents = MemoryIncidents()
    deps = deps_for(factory, rzp, venues, Alerter(incidents), max_payout_attempts=2)
    pid = custodial_payment(factory, vpa="ravi.fail@okaxis")
    report = settle_pass(deps, [pid], sell=False)
    assert report.statuses == {pid: "held_for_review"}
    remote = deps.payouts.find_payouts(pid)
    assert sorted(p.status.value for p in remote) == ["failed", "failed"]
    with factory() as s:
        keys = s.scalars(select(Payout.idempotency_key).where(Payout.payment_id == pid)).all()
        attempts = s.scalars(select(SettlementAttempt.id)).all()
        assert sorted(keys) == sorted(attempts) and len(set(keys)) == 2
        assert {p.notes["attempt"] for p in remote} == set(keys)
        assert get_balance(s, "float:INR").balance == 0  # nothing was paid
        check_invariants(s)
    assert list(incidents.open_alerts) == [f"payment_held:{pid}"]


def test_rejected_vpa_holds_the_payment_without_any_payout(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues, max_payout_attempts=1)
    pid = custodial_payment(factory, vpa="nobody.invalid@okaxis")
    assert settle_pass(deps, [pid], sell=False).statuses == {pid: "held_for_review"}
    assert deps.payouts.find_payouts(pid) == []


def test_reversal_after_processed_posts_a_correction_and_notifies(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    pid = custodial_payment(factory, vpa="ravi.reverse@okaxis")
    assert settle_until_reversed(deps, factory, pid) in ("completed", "payout_reversed")
    with factory() as s:
        assert s.get_one(Payment, pid).status is PaymentStatus.PAYOUT_REVERSED
        assert get_balance(s, "float:INR").balance == 0  # paid, then returned
        assert get_balance(s, "payout_clearing:INR").balance == 50_000  # owed again
        outbox = s.scalars(select(OutboxMessage)).one()
        assert outbox.topic == "payment.payout_reversed" and outbox.payload["payment_id"] == pid
        check_invariants(s)
