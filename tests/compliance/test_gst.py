"""GST invoices for the platform fee: tax split, numbering, rendering."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.risk.fixtures import NOW, make_payment, make_user
from wallet.compliance.config import TaxConfig
from wallet.compliance.gst import (
    invoice_data,
    issue_fee_invoice,
    render_invoice_html,
    split_fee,
)
from wallet.compliance.models import GstInvoice
from wallet.db.session import transaction
from wallet.errors import InvalidAmount

CONFIG = TaxConfig()


@pytest.mark.parametrize(
    ("fee", "intra", "inclusive", "expected"),
    [
        (118_00, True, True, (118_00, 100_00, 9_00, 9_00, 0)),
        (118_00, False, True, (118_00, 100_00, 0, 0, 18_00)),
        (101, True, True, (101, 85, 8, 8, 0)),  # GST 16 paise, rounded up
        (100, True, True, (100, 84, 8, 8, 0)),
        (1, False, True, (1, 0, 0, 0, 1)),
        (100_00, True, False, (118_00, 100_00, 9_00, 9_00, 0)),  # exclusive: on top
        (1_01, True, False, (1_20, 1_01, 10, 9, 0)),  # 18.18 paise → 19; odd paisa to CGST
    ],
)
def test_split_fee(fee: int, intra: bool, inclusive: bool, expected: tuple[int, ...]) -> None:
    split = split_fee(fee, config=TaxConfig(gst_fee_inclusive=inclusive), intra_state=intra)
    got = (
        split.fee_paise,
        split.taxable_paise,
        split.cgst_paise,
        split.sgst_paise,
        split.igst_paise,
    )
    assert got == expected
    assert split.taxable_paise + split.gst_paise == split.fee_paise


def test_invoices_are_numbered_per_financial_year_once_per_payment(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s)
        payments = [make_payment(s, user) for _ in range(3)]
        numbers = [
            issue_fee_invoice(s, payment_id=p.id, user=user, fee_paise=118_00, now=NOW).number
            for p in payments[:2]
        ]
        assert numbers == ["TFW/2627/000001", "TFW/2627/000002"]
        again = issue_fee_invoice(s, payment_id=payments[0].id, user=user, fee_paise=1, now=NOW)
        assert again.number == numbers[0]
        april = datetime(2027, 3, 31, 18, 30, tzinfo=UTC)  # 1 April IST
        nxt = issue_fee_invoice(
            s, payment_id=payments[2].id, user=user, fee_paise=118_00, now=april
        )
        assert nxt.number == "TFW/2728/000001"
        assert len(nxt.number) <= 16
        with pytest.raises(InvalidAmount):
            issue_fee_invoice(
                s, payment_id=make_payment(s, user).id, user=user, fee_paise=0, now=NOW
            )


def test_invoice_data_and_html_escape_every_value(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s)
        payment = make_payment(s, user)
        inv = issue_fee_invoice(
            s,
            payment_id=payment.id,
            user=user,
            fee_paise=118_00,
            now=NOW,
            recipient_name="<script>alert(1)</script>",
        )
        data = invoice_data(inv)
        assert data["total"] == "118.00" and data["cgst"] == "9.00" and data["igst"] == "0.00"
        assert data["date"] == "2026-11-27"
        page = render_invoice_html(inv)
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "TFW/2627/000001" in page and "CGST @ 9%" in page
        inter = issue_fee_invoice(
            s,
            payment_id=make_payment(s, user).id,
            user=user,
            fee_paise=118_00,
            now=NOW,
            place_of_supply="27",
        )
        assert "IGST @ 18%" in render_invoice_html(inter)


class _Abort(Exception):
    pass


@pytest.mark.postgres
def test_invoice_numbers_are_gap_free_under_concurrency_with_rollbacks(
    pg_factory: sessionmaker[Session],
) -> None:
    series = TaxConfig(gst_invoice_series="CC")  # a series of our own in the shared schema
    with transaction(pg_factory) as s:
        user = make_user(s)
        payment_ids = [make_payment(s, user).id for _ in range(24)]
    start = threading.Barrier(len(payment_ids))
    errors: list[BaseException] = []

    def worker(i: int, payment_id: str) -> None:
        start.wait()
        try:
            with transaction(pg_factory) as s:
                issue_fee_invoice(
                    s, payment_id=payment_id, user=user, fee_paise=118_00, now=NOW, config=series
                )
                if i % 4 == 0:
                    raise _Abort  # the caller's transaction fails after taking a number
        except _Abort:
            pass
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=a) for a in enumerate(payment_ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with pg_factory() as s:
        seqs = sorted(s.scalars(select(GstInvoice.seq).where(GstInvoice.series == "CC")))
    assert seqs == list(range(1, 19))  # 24 issued, 6 rolled back: 1..18, no gaps
