"""Limit reservations on PostgreSQL: one upsert for every rule, refusals that change nothing.

The reservation takes every counter row in one ``INSERT … ON CONFLICT DO
UPDATE … WHERE`` statement (:mod:`wallet.risk.limits`); these pin its
behaviour on the real database: a retry reserves once, a refusal leaves
every counter (and no new row) behind and names the first refusing limit,
and a single use that alone crosses a ceiling is refused on an empty window.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.risk.fixtures import NOW, make_user
from wallet.db.session import transaction
from wallet.risk import LimitRule, Period, release_reservation, reserve_limits
from wallet.risk.errors import LimitExceeded
from wallet.risk.limits import usage
from wallet.risk.models import LimitCounter, LimitReservation

pytestmark = pytest.mark.postgres


def _counters(s: Session, user_id: int) -> int:
    return (
        s.scalar(
            select(func.count()).select_from(LimitCounter).where(LimitCounter.key == str(user_id))
        )
        or 0
    )


def test_retry_reserves_once_and_refusal_names_the_first_limit_changing_nothing(
    pg_factory: sessionmaker[Session],
) -> None:
    with transaction(pg_factory) as s:
        user = make_user(s)
        uid = str(user.id)
        rules = [
            LimitRule("user", uid, Period.HOUR, max_count=2),
            LimitRule("user", uid, Period.DAY, max_count=5, max_paise=1_000),
            LimitRule("payee", f"shop-{uid}@okbank", Period.DAY, max_paise=700),
        ]
        first = reserve_limits(
            s, ref=f"payment:a{uid}", user_id=user.id, rules=rules, amount_paise=600, now=NOW
        )
        again = reserve_limits(
            s, ref=f"payment:a{uid}", user_id=user.id, rules=rules, amount_paise=600, now=NOW
        )
        assert first == again
        assert usage(s, "user", uid, Period.DAY, NOW) == (1, 600)
        assert usage(s, "payee", f"shop-{uid}@okbank", Period.DAY, NOW) == (1, 600)

        # 600 + 500 crosses both the user's day amount and the payee's: the
        # first in lock order (payee < user) is named, and nothing moves.
        with pytest.raises(LimitExceeded) as refused:
            reserve_limits(
                s, ref=f"payment:b{uid}", user_id=user.id, rules=rules, amount_paise=500, now=NOW
            )
        assert refused.value.reason == "limit_payee_day_amount"
        assert usage(s, "user", uid, Period.HOUR, NOW) == (1, 600)
        assert usage(s, "user", uid, Period.DAY, NOW) == (1, 600)
        assert (
            s.scalar(
                select(func.count())
                .select_from(LimitReservation)
                .where(LimitReservation.ref == f"payment:b{uid}")
            )
            == 0
        )

        assert release_reservation(s, f"payment:a{uid}", now=NOW) is True
        assert usage(s, "user", uid, Period.DAY, NOW) == (0, 0)


def test_a_single_use_over_a_ceiling_is_refused_on_an_empty_window(
    pg_factory: sessionmaker[Session],
) -> None:
    with transaction(pg_factory) as s:
        user = make_user(s)
        uid = str(user.id)
        over_amount = [LimitRule("user", uid, Period.DAY, max_count=1, max_paise=100)]
        with pytest.raises(LimitExceeded) as refused:
            reserve_limits(
                s, ref=f"payment:c{uid}", user_id=user.id, rules=over_amount, amount_paise=101,
                now=NOW,
            )  # fmt: skip
        assert refused.value.reason == "limit_user_day_amount"
        no_uses = [LimitRule("user", uid, Period.HOUR, max_count=0)]
        with pytest.raises(LimitExceeded) as refused:
            reserve_limits(
                s, ref=f"payment:d{uid}", user_id=user.id, rules=no_uses, amount_paise=1, now=NOW
            )
        assert refused.value.reason == "limit_user_hour_count"
        assert _counters(s, user.id) == 0
