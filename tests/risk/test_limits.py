"""Velocity and amount limits: tiers, windows, scopes, reservations and release."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.risk.fixtures import NOW, make_user
from wallet.db.session import transaction
from wallet.errors import InvalidAmount
from wallet.risk import (
    LimitRule,
    Period,
    RiskConfig,
    RiskDecisionKind,
    assess_payment,
    release_reservation,
    reserve_limits,
)
from wallet.risk.errors import LimitExceeded
from wallet.risk.limits import usage, window_start
from wallet.risk.models import LimitCounter, LimitReservation, ReservationStatus

RUPEE = 100


def _pay(session: Session, user: object, inr: int, **kw: object) -> object:
    kw.setdefault("now", NOW)
    kw.setdefault("config", RiskConfig())
    return assess_payment(
        session,
        user,  # type: ignore[arg-type]
        str(kw.pop("vpa", "shop@okbank")),
        inr,
        "USDT",
        kw.pop("device_id", None),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_tier_zero_daily_limit_declines_the_payment_that_would_cross_it(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=0)  # ₹5,000 a day, ₹2,000 a payment
        first = _pay(s, user, 2_000 * RUPEE)
        second = _pay(s, user, 2_000 * RUPEE)
        third = _pay(s, user, 2_000 * RUPEE)
        fourth = _pay(s, user, 1_000 * RUPEE)  # exactly reaches ₹5,000
        assert [d.decision for d in (first, second, fourth)] == [RiskDecisionKind.APPROVE] * 3
        assert third.decision is RiskDecisionKind.DECLINE
        assert third.reasons == ("limit_user_day_amount",)
        assert usage(s, "user", str(user.id), Period.DAY, NOW) == (3, 5_000 * RUPEE)
        assert _pay(s, user, 1).reasons == ("limit_user_day_amount",)


def test_per_payment_ceiling_follows_the_tier(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as s:
        low, mid = make_user(s, tier=0), make_user(s, tier=1)
        assert _pay(s, low, 3_000 * RUPEE).reasons == ("limit_tier_per_payment",)
        assert _pay(s, mid, 3_000 * RUPEE).decision is RiskDecisionKind.APPROVE
        # The refused payment took nothing from any counter.
        assert usage(s, "user", str(low.id), Period.DAY, NOW) == (0, 0)


def test_a_refusal_rolls_back_the_counters_it_already_took(
    sqlite_factory: sessionmaker[Session],
) -> None:
    config = RiskConfig(payee_hourly_count=1)
    with transaction(sqlite_factory) as s:
        a, b = make_user(s, tier=1), make_user(s, tier=1)
        assert _pay(s, a, 500 * RUPEE, config=config).approved
        before = usage(s, "global", "*", Period.DAY, NOW)
        refused = _pay(s, b, 500 * RUPEE, config=config)
        assert refused.reasons == ("limit_payee_hour_count",)
        # "global" and "user" sort before "payee", so they were taken, then undone.
        assert usage(s, "global", "*", Period.DAY, NOW) == before
        assert usage(s, "user", str(b.id), Period.DAY, NOW) == (0, 0)
        assert s.scalar(select(func.count()).select_from(LimitReservation)) == 1


def test_device_and_user_count_limits(sqlite_factory: sessionmaker[Session]) -> None:
    config = RiskConfig(device_hourly_count=2, user_hourly_count=3)
    with transaction(sqlite_factory) as s:
        a, b = make_user(s, tier=1), make_user(s, tier=1)
        assert _pay(s, a, 100, device_id="phone-1", config=config).approved
        assert _pay(s, b, 100, device_id="phone-1", config=config).approved
        assert _pay(s, b, 100, device_id="phone-1", config=config).reasons == (
            "limit_device_hour_count",
        )
        assert _pay(s, b, 100, device_id="phone-2", config=config).approved
        assert _pay(s, b, 100, device_id="phone-3", config=config).approved
        assert _pay(s, b, 100, device_id="phone-4", config=config).reasons == (
            "limit_user_hour_count",
        )


def test_windows_are_the_utc_hour_and_the_ist_day(sqlite_factory: sessionmaker[Session]) -> None:
    # 18:29:59 UTC is 23:59:59 IST; one second later the IST day turns over.
    before_midnight = NOW.replace(hour=18, minute=29, second=59)
    after_midnight = before_midnight + timedelta(seconds=1)
    assert window_start(Period.DAY, before_midnight) == NOW.replace(hour=18, minute=30) - timedelta(
        days=1
    )
    assert window_start(Period.DAY, after_midnight) == after_midnight
    assert window_start(Period.HOUR, after_midnight) == after_midnight.replace(minute=0, second=0)
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=0)
        for _ in range(2):
            assert _pay(s, user, 2_000 * RUPEE, now=before_midnight).approved
        assert not _pay(s, user, 2_000 * RUPEE, now=before_midnight).approved
        assert _pay(s, user, 2_000 * RUPEE, now=after_midnight).approved


def test_reservation_is_idempotent_and_release_gives_everything_back(
    sqlite_factory: sessionmaker[Session],
) -> None:
    rules = [
        LimitRule("user", "7", Period.DAY, max_count=5, max_paise=1_000),
        LimitRule("global", "*", Period.HOUR, max_paise=10_000),
    ]
    with transaction(sqlite_factory) as s:
        user = make_user(s)
        first = reserve_limits(
            s, ref="payment:p1", user_id=user.id, rules=rules, amount_paise=600, now=NOW
        )
        again = reserve_limits(
            s, ref="payment:p1", user_id=user.id, rules=rules, amount_paise=600, now=NOW
        )
        assert first == again
        assert usage(s, "user", "7", Period.DAY, NOW) == (1, 600)
        with pytest.raises(LimitExceeded) as refused:
            reserve_limits(
                s, ref="payment:p2", user_id=user.id, rules=rules, amount_paise=500, now=NOW
            )
        assert refused.value.code == "limit_exceeded"
        assert refused.value.reason == "limit_user_day_amount"
        assert release_reservation(s, "payment:p1", now=NOW) is True
        assert release_reservation(s, "payment:p1", now=NOW) is False
        assert usage(s, "user", "7", Period.DAY, NOW) == (0, 0)
        assert usage(s, "global", "*", Period.HOUR, NOW) == (0, 0)
        row = s.scalar(select(LimitReservation).where(LimitReservation.ref == "payment:p1"))
        assert row is not None and row.status is ReservationStatus.RELEASED
        # Released capacity is usable again.
        reserve_limits(
            s, ref="payment:p2", user_id=user.id, rules=rules, amount_paise=1_000, now=NOW
        )


@pytest.mark.parametrize("bad", [0, -5, 1.5, "100", True])
def test_bad_amounts_are_refused_and_change_nothing(
    sqlite_factory: sessionmaker[Session], bad: object
) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=2)
        with pytest.raises(InvalidAmount):
            _pay(s, user, bad)  # type: ignore[arg-type]
        assert s.scalar(select(func.count()).select_from(LimitCounter)) == 0
