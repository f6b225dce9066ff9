"""Reconciliation finds each seeded break, reports none on clean data, reads a snapshot."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import custodial_payment, deps_for
from wallet.db.models import ChainObservation, Credit, ExchangeOrder, OrderSide, OrderStatus, Payout
from wallet.db.session import transaction
from wallet.reconciliation import reconcile, snapshot
from wallet.settlement.service import settle_pass

DAY = timedelta(days=1)


def _report(factory: sessionmaker[Session], deps: Any) -> Any:
    now = datetime.now(UTC)
    bind = factory.kw["bind"]
    with snapshot(bind) as session:
        return reconcile(
            session, now - DAY, now + DAY, payouts=deps.payouts, exchanges=deps.exchanges
        )


def test_clean_books_reconcile_with_zero_breaks(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    pid = custodial_payment(factory)
    assert settle_pass(deps, [pid]).statuses == {pid: "completed"}
    report = _report(factory, deps)
    assert report.breaks == []
    assert (
        report.totals["provider_payouts_paise"] == report.totals["ledger_payouts_paise"] == 50_000
    )


def test_every_seeded_break_is_reported_with_its_category(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    # A payout RazorpayX processed while our books never heard (no polling, no webhook).
    unbooked = custodial_payment(factory, inr_paise=20_000)
    quiet = deps_for(factory, rzp, venues, payout_wait_seconds=0.0)
    settle_pass(quiet, [unbooked], sell=False)
    # A payout processed and booked, then reversed at RazorpayX without us applying it.
    reversed_ = custodial_payment(factory, inr_paise=30_000)
    settle_pass(deps, [reversed_], sell=False)
    [paid] = deps.payouts.find_payouts(reversed_)
    httpx.post(
        f"{rzp['url']}/__sandbox/advance",
        json={"payout_id": paid.id, "status": "reversed"},
        trust_env=False,
    ).raise_for_status()
    # A second live payout at the provider for a settled payment.
    doubled = custodial_payment(factory, inr_paise=40_000)
    settle_pass(deps, [doubled], sell=False)
    deps.payouts.create_payout(
        amount_paise=40_000,
        reference_id=doubled,
        idempotency_key=str(uuid.uuid4()),
        vpa="ravi.kumar@okaxis",
        contact_name="Ravi Kumar",
    )
    with transaction(factory) as s:
        s.add(Credit(chain="solana", txid="ghost", idx=0, asset="SOL", address="A", amount_minor=7))
        s.add(
            ChainObservation(
                chain="solana",
                txid="orphan",
                idx=1,
                asset="SOL",
                address="B",
                amount_minor=9,
                block_number=5,
                block_hash="h5",
                status="success",
            )
        )
        s.add(
            ExchangeOrder(
                client_order_id="unbooked-0-0",
                venue="nowhere",
                symbol="SOLUSDT",
                base_asset="SOL",
                quote_asset="USDT",
                side=OrderSide.SELL,
                qty=10,
                filled_qty=10,
                status=OrderStatus.FILLED,
            )
        )
    time.sleep(1.0)  # the stand-in processes, then reverses, the payouts

    report = _report(factory, deps)
    found = {
        (b.category, b.subject if b.category != "payout_processed_not_booked" else "")
        for b in report.breaks
    }
    assert ("credit_without_tx", "solana:ghost:0") in found
    assert ("tx_without_credit", "solana:orphan:1") in found
    assert ("fill_without_entry", "unbooked-0-0") in found
    assert ("duplicate_payout", doubled) in found
    assert ("payout_processed_not_booked", "") in found
    categories = report.by_category()
    assert categories["reversal"] == 1
    assert categories["payout_total"] == 1
    with factory() as s:
        unbooked_key = s.scalars(
            select(Payout.idempotency_key).where(Payout.payment_id == unbooked)
        ).one()
    assert any(b.detail == unbooked_key for b in report.breaks)
    assert "duplicate_payout" in report.csv() and "<table" in report.html()
    assert "| reversal |" in report.markdown()
