"""Section 194S TDS: thresholds, rates, rounding, records and the monthly report."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.risk.fixtures import NOW, make_payment, make_user
from wallet.compliance.config import TaxConfig
from wallet.compliance.models import TdsRecord
from wallet.compliance.periods import financial_year
from wallet.compliance.tds import compute_tds, monthly_tds_report, record_tds, tds_for
from wallet.db.session import transaction
from wallet.errors import InvalidAmount
from wallet.risk import submit_kyc

CONFIG = TaxConfig()
PAN = "ABCPE1234F"


@pytest.mark.parametrize(
    ("amount", "before", "pan", "tds", "basis"),
    [
        (10_000_00, 0, PAN, 0, "below_threshold"),  # exactly ₹10,000: not exceeded
        (10_000_01, 0, PAN, 10_001, "deducted"),  # crosses: the whole payment at 1 %
        (5_000_00, 6_000_00, PAN, 5_000, "deducted"),
        (1_234_57, 20_000_00, PAN, 1_235, "deducted"),  # 1,234.57 → 12.3457 → ₹12.35 (up)
        (5_000_00, 6_000_00, None, 1_000_00, "no_pan"),  # 20 % without a PAN
        (1, 10_000_00, PAN, 1, "deducted"),  # a fraction of a paisa rounds up
    ],
)
def test_compute_tds_table(amount: int, before: int, pan: str | None, tds: int, basis: str) -> None:
    calc = compute_tds(amount, aggregate_before_paise=before, pan=pan, fy="2026-27", config=CONFIG)
    assert (calc.tds_paise, calc.basis) == (tds, basis)


def test_thresholds_and_rates_are_configuration() -> None:
    specified = TaxConfig(tds_deductor_is_specified_person=True)
    assert specified.tds_threshold_paise == 50_000_00
    calc = compute_tds(
        40_000_00, aggregate_before_paise=9_000_00, pan=PAN, fy="2026-27", config=specified
    )
    assert calc.tds_paise == 0
    two = TaxConfig(tds_bps=200)
    assert (
        compute_tds(
            20_000_00, aggregate_before_paise=0, pan=PAN, fy="2026-27", config=two
        ).tds_paise
        == 400_00
    )
    with pytest.raises(InvalidAmount):
        compute_tds(0, aggregate_before_paise=0, pan=PAN, fy="2026-27", config=CONFIG)


def test_financial_year_turns_over_at_ist_midnight_on_1_april() -> None:
    assert financial_year(datetime(2027, 3, 31, 18, 29, 59, tzinfo=UTC)) == "2026-27"
    assert financial_year(datetime(2027, 3, 31, 18, 30, tzinfo=UTC)) == "2027-28"
    assert financial_year(datetime(2099, 12, 1, tzinfo=UTC)) == "2099-00"


def test_records_aggregate_over_the_year_and_feed_the_monthly_report(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=1)
        submit_kyc(s, user, pan=PAN, full_name="Asha Rao", date_of_birth=date(1990, 1, 1), now=NOW)
        other = make_user(s)  # no PAN
        amounts = [6_000_00, 3_000_00, 2_000_00, 1_000_00]
        rows = [
            record_tds(
                s,
                payment_id=make_payment(s, user, inr_paise=a).id,
                user=user,
                consideration_paise=a,
                now=NOW,
            )
            for a in amounts
        ]
        assert [r.tds_paise for r in rows] == [0, 0, 2_000, 1_000]
        assert [r.aggregate_before_paise for r in rows] == [0, 6_000_00, 9_000_00, 11_000_00]
        # The quote-time estimate reads the same aggregate and writes nothing.
        assert tds_for(s, user, 1_000_00, NOW).tds_paise == 1_000
        assert s.scalar(select(func.count()).select_from(TdsRecord)) == 4
        # Idempotent per payment.
        again = record_tds(
            s, payment_id=rows[0].payment_id, user=user, consideration_paise=1, now=NOW
        )
        assert again.id == rows[0].id
        pay = make_payment(s, other, inr_paise=12_000_00)
        no_pan = record_tds(
            s, payment_id=pay.id, user=other, consideration_paise=12_000_00, now=NOW
        )
        assert (no_pan.basis, no_pan.tds_paise) == ("no_pan", 2_400_00)
        # Next financial year starts from zero.
        april = datetime(2027, 4, 1, 0, 0, tzinfo=UTC)
        assert tds_for(s, user, 5_000_00, april).tds_paise == 0

    with sqlite_factory() as s:
        report = monthly_tds_report(s, 2026, 11)
        assert report.financial_year == "2026-27"
        assert report.due_date == date(2026, 12, 7)
        assert [(r.user_id, r.pan, r.name, r.payments, r.deductions) for r in report.rows] == [
            (user.id, PAN, "Asha Rao", 4, 2),
            (other.id, None, None, 1, 1),
        ]
        assert report.total_consideration_paise == 24_000_00
        assert report.total_tds_paise == 3_000 + 2_400_00
        assert report.payers_without_pan == 1
        assert monthly_tds_report(s, 2026, 10).rows == ()
        assert monthly_tds_report(s, 2027, 3).due_date == date(2027, 4, 30)
