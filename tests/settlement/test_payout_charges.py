"""RazorpayX's payout fee and its GST: booked with the payout, given back with a reversal.

A payout from the RazorpayX float takes ``amount + fees + tax`` from it and a
reversal returns all three (RazorpayX's billing docs; the stand-in does the
same with ``--fee-paise``). The ledger's ``float:INR`` must move by what the
float really moved, so the charges are booked to ``expense:payout_fees:INR``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import custodial_payment, deps_for, settle_until_reversed
from wallet.db.models import Payment, Payout, PayoutStatus
from wallet.ledger import check_invariants, get_balance
from wallet.payments.states import PaymentStatus
from wallet.settlement.service import refresh_payout, settle_pass

FEE = 500  # ₹5, as in RazorpayX's billing example (₹0.90 GST on it)
TAX = FEE * 18 // 100  # GST on the fee
FEES = "expense:payout_fees:INR"


@pytest.fixture(scope="module")
def rzp_fees(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A RazorpayX stand-in that charges every payout a fee and its GST."""
    from sandbox.razorpayx.testing import start_razorpayx, stop_razorpayx

    process, info = start_razorpayx(
        tmp_path_factory.mktemp("rzp-fees"),
        extra_args=["--process-delay", "0.2", "--fee-paise", str(FEE)],
    )
    yield info
    stop_razorpayx(process)


def test_a_processed_payout_books_its_fee_and_tax_and_the_float_matches_razorpayx(
    factory: sessionmaker[Session], rzp_fees: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp_fees, venues)
    pid = custodial_payment(factory, inr_paise=50_000)
    before = deps.payouts.get_balance_paise()

    assert settle_pass(deps, [pid]).statuses == {pid: "completed"}

    spent = before - deps.payouts.get_balance_paise()
    assert spent == 50_000 + FEE + TAX
    with factory() as s:
        payout = s.scalars(select(Payout).where(Payout.payment_id == pid)).one()
        assert payout.status is PayoutStatus.PROCESSED
        assert (payout.fees_paise, payout.tax_paise) == (FEE, TAX)
        assert get_balance(s, "float:INR").balance == -spent  # the ledger's float is the real one
        assert get_balance(s, FEES).balance == FEE + TAX
        assert get_balance(s, "payout_clearing:INR").balance == 0  # the vendor got 50,000
        check_invariants(s)
    # A second look at the same payout books nothing twice.
    refresh_payout(deps, payout.idempotency_key)
    with factory() as s:
        assert get_balance(s, FEES).balance == FEE + TAX
        assert get_balance(s, "float:INR").balance == -spent


def test_a_reversed_payout_gives_back_its_fee_and_tax_with_the_amount(
    factory: sessionmaker[Session], rzp_fees: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp_fees, venues)
    pid = custodial_payment(factory, vpa="ravi.reverse@okaxis")
    before = deps.payouts.get_balance_paise()
    settle_until_reversed(deps, factory, pid)
    assert deps.payouts.get_balance_paise() == before  # RazorpayX returned all of it
    with factory() as s:
        assert s.get_one(Payment, pid).status is PaymentStatus.PAYOUT_REVERSED
        payout = s.scalars(select(Payout).where(Payout.payment_id == pid)).one()
        assert (payout.fees_paise, payout.tax_paise) == (FEE, TAX)
        assert get_balance(s, "float:INR").balance == 0
        assert get_balance(s, FEES).balance == 0
        assert get_balance(s, "payout_clearing:INR").balance == 50_000  # owed again
        check_invariants(s)


def test_reconciliation_ties_the_booked_charges_to_razorpayxs(
    factory: sessionmaker[Session], rzp_fees: dict[str, Any], venues: dict[str, Any]
) -> None:
    from datetime import UTC, datetime, timedelta

    from wallet.db.session import transaction
    from wallet.reconciliation import reconcile, snapshot
    from wallet.settlement import ledger

    def report() -> Any:
        now = datetime.now(UTC)
        with snapshot(factory.kw["bind"]) as session:
            return reconcile(
                session, now - timedelta(days=1), now + timedelta(days=1), payouts=deps.payouts
            )

    deps = deps_for(factory, rzp_fees, venues)
    pid = custodial_payment(factory, inr_paise=30_000)
    assert settle_pass(deps, [pid], sell=False).statuses == {pid: "paid_out"}
    clean = report()
    assert clean.breaks == []
    assert clean.totals["ledger_payout_charges_paise"] == FEE + TAX
    assert clean.totals["provider_payout_charges_paise"] == FEE + TAX
    # A payout booked without its charges (as every payout was before they were booked).
    short = custodial_payment(factory, inr_paise=20_000)
    settle_pass(deps_for(factory, rzp_fees, venues, payout_wait_seconds=0.0), [short], sell=False)
    deadline = time.monotonic() + 10
    while [p.status.value for p in deps.payouts.find_payouts(short)] != ["processed"]:
        assert time.monotonic() < deadline, "the stand-in never processed the payout"
        time.sleep(0.1)
    with transaction(factory) as s:
        key = s.scalars(select(Payout.idempotency_key).where(Payout.payment_id == short)).one()
        ledger.post_processed(s, key, 20_000)
    [found] = report().breaks
    assert (found.category, found.ours, found.theirs) == (
        "payout_charges_total",
        FEE + TAX,
        2 * (FEE + TAX),
    )
