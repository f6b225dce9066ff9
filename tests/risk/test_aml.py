"""AML flags raise review cases and hold payments; every decision is recorded."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.risk.fixtures import NOW, make_deposit, make_payment, make_user
from wallet.db.models import Role, User
from wallet.db.session import transaction
from wallet.risk import (
    RiskConfig,
    RiskDecision,
    RiskDecisionKind,
    assess_payment,
    assess_withdrawal,
    list_cases,
    resolve_case,
)
from wallet.risk.errors import CaseAlreadyResolved, ReviewRefused
from wallet.risk.limits import Period, usage
from wallet.risk.models import CaseStatus, PaymentRisk, ReviewCase

USDT = 10**6  # USDT has 6 decimals
CONFIG = RiskConfig()


def _assess(
    s: Session, user: User, inr: int, *, vpa: str = "shop@okbank", at=NOW, **kw
) -> RiskDecision:  # type: ignore[no-untyped-def]
    payment = make_payment(s, user, vpa=vpa, inr_paise=inr, at=at, **kw)
    return assess_payment(
        s, user, vpa, inr, payment.asset, None, at, payment_id=payment.id, config=CONFIG
    )


def test_structuring_holds_the_third_payment_just_under_the_threshold(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=2)
        just_under = 48_000_00  # ₹48,000: within 10 % below ₹50,000
        first = _assess(s, user, just_under, at=NOW - timedelta(hours=3))
        second = _assess(s, user, just_under, at=NOW - timedelta(hours=2))
        normal = _assess(s, user, 2_000_00, at=NOW - timedelta(hours=1))
        third = _assess(s, user, just_under)
        assert [d.decision for d in (first, second, normal)] == [RiskDecisionKind.APPROVE] * 3
        assert third.decision is RiskDecisionKind.HOLD_FOR_REVIEW
        assert third.reasons == ("structuring",)
        [case] = list_cases(s)
        assert (case.kind, case.subject) == ("structuring", f"user:{user.id}")
        assert case.id in third.case_ids
        assert len(case.payment_ids) == 1
        assert case.details["first"]["count"] == 3
        # A fourth joins the open case instead of opening another.
        fourth = _assess(s, user, just_under)
        assert fourth.reasons == ("structuring",)
        [same] = list_cases(s)
        assert same.id == case.id and len(same.payment_ids) == 2


def test_payments_spread_over_more_than_the_window_are_not_structuring(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=2)
        _assess(s, user, 48_000_00, at=NOW - timedelta(days=3))
        _assess(s, user, 48_000_00, at=NOW - timedelta(days=2))
        assert _assess(s, user, 48_000_00).approved
        assert list_cases(s) == []


def test_rapid_deposit_then_spend_is_held(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=1)
        make_deposit(
            s,
            user,
            asset="USDT",
            amount_minor=100 * USDT,
            at=NOW - timedelta(minutes=10),
            chain="ethereum",
        )
        small = _assess(s, user, 2_000_00, amount_minor=50 * USDT)  # half of it: fine
        assert small.approved
        most = _assess(s, user, 8_000_00, amount_minor=90 * USDT)
        assert most.decision is RiskDecisionKind.HOLD_FOR_REVIEW
        assert most.reasons == ("rapid_deposit_spend",)
        [case] = list_cases(s)
        assert case.kind == "rapid_deposit_spend"
        assert case.details["first"]["minutes_since_deposit"] == 10
        # The same withdrawal out of fresh funds is held too (layering).
        out = assess_withdrawal(
            s,
            user,
            "ethereum",
            "0x" + "ab" * 20,
            "USDT",
            95 * USDT,
            8_000_00,
            None,
            NOW,
            key="w-1",
            config=CONFIG,
        )
        assert out.reasons == ("rapid_deposit_spend",)


def test_old_deposits_are_not_fresh_funds(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=1)
        make_deposit(
            s,
            user,
            asset="USDT",
            amount_minor=100 * USDT,
            at=NOW - timedelta(hours=2),
            chain="ethereum",
        )
        assert _assess(s, user, 8_000_00, amount_minor=100 * USDT).approved


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_factory(request: pytest.FixtureRequest) -> sessionmaker[Session]:
    """SQLite or PostgreSQL (a schema shared by the session: use fresh VPAs)."""
    name = "sqlite_factory" if request.param == "sqlite" else "pg_factory"
    factory: sessionmaker[Session] = request.getfixturevalue(name)
    return factory


def test_many_payers_to_one_new_vpa_is_fan_in(any_factory: sessionmaker[Session]) -> None:
    vpa = f"mule{uuid.uuid4().hex[:8]}@okbank"
    with transaction(any_factory) as s:
        payers = [make_user(s, tier=1) for _ in range(5)]
        decisions = [
            _assess(s, p, 1_000_00, vpa=vpa, at=NOW - timedelta(minutes=50 - i))
            for i, p in enumerate(payers)
        ]
        assert [d.approved for d in decisions] == [True] * 4 + [False]
        assert decisions[-1].reasons == ("fan_in",)
        [case] = [c for c in list_cases(s) if c.subject == f"vpa:{vpa}"]
        assert case.kind == "fan_in"


def test_an_established_payee_with_many_payers_is_a_shop(
    any_factory: sessionmaker[Session],
) -> None:
    vpa = f"chai{uuid.uuid4().hex[:8]}@okbank"
    with transaction(any_factory) as s:
        old = make_user(s, tier=1)
        make_payment(s, old, vpa=vpa, inr_paise=5_000, at=NOW - timedelta(days=60))
        decisions = [_assess(s, make_user(s, tier=1), 1_000_00, vpa=vpa) for _ in range(6)]
        assert all(d.approved for d in decisions)


def test_decision_is_recorded_once_per_payment(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=1)
        payment = make_payment(s, user, inr_paise=1_000_00)
        first = assess_payment(
            s, user, "shop@okbank", 1_000_00, "USDT", None, NOW, payment_id=payment.id
        )
        again = assess_payment(
            s, user, "shop@okbank", 1_000_00, "USDT", None, NOW, payment_id=payment.id
        )
        assert first.decision == again.decision and first.reservation_ref == again.reservation_ref
        row = s.scalar(select(PaymentRisk).where(PaymentRisk.payment_id == payment.id))
        assert row is not None
        assert (row.decision, row.score, row.reasons) == (RiskDecisionKind.APPROVE, 0, [])
        assert s.scalar(select(func.count()).select_from(PaymentRisk)) == 1
        assert usage(s, "user", str(user.id), Period.DAY, NOW) == (1, 1_000_00)


def test_admin_resolves_a_case_and_a_new_flag_opens_a_new_one(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with transaction(sqlite_factory) as s:
        admin = make_user(s, role=Role.ADMIN)
        user = make_user(s, tier=2)
        for hours in (3, 2, 1):
            _assess(s, user, 48_000_00, at=NOW - timedelta(hours=hours))
        [case] = list_cases(s)
        with pytest.raises(ReviewRefused):
            resolve_case(s, case.id, admin=user, resolution="fine", now=NOW)
        resolve_case(s, case.id, admin=admin, resolution="salary split by employer", now=NOW)
        with pytest.raises(CaseAlreadyResolved):
            resolve_case(s, case.id, admin=admin, resolution="again", now=NOW)
        assert list_cases(s) == []
        _assess(s, user, 48_000_00)
        [new] = list_cases(s)
        assert new.id != case.id
        resolved = s.get(ReviewCase, case.id)
        assert resolved is not None and resolved.status is CaseStatus.RESOLVED
        assert resolved.resolved_by == f"admin:{admin.id}"
