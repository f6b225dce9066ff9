"""50 concurrent payments against one daily limit on PostgreSQL: exactly the
affordable ones are approved and the counter equals their sum."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.risk.fixtures import NOW, make_user
from wallet.db.session import transaction
from wallet.risk import RiskConfig, RiskDecisionKind, assess_payment
from wallet.risk.limits import Period, usage

pytestmark = pytest.mark.postgres

THREADS = 50
AMOUNT = 1_000_00  # ₹1,000 each
DAILY = 20_000_00  # ₹20,000: room for exactly 20


def test_fifty_parallel_payments_never_exceed_the_daily_limit(
    pg_factory: sessionmaker[Session],
) -> None:
    config = RiskConfig(tier_daily_limit_paise={0: 1, 1: DAILY, 2: DAILY * 10})
    with transaction(pg_factory) as s:
        user = make_user(s, tier=1)
    outcomes: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(i: int) -> None:
        start.wait()
        try:
            with transaction(pg_factory) as s:
                decision = assess_payment(
                    s, user, f"shop{i}@okbank", AMOUNT, "USDT", f"dev-{i}", NOW, config=config
                )
            with lock:
                outcomes[decision.decision.value + ":" + ",".join(decision.reasons)] += 1
        except BaseException as exc:  # collected and asserted below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert outcomes == {
        f"{RiskDecisionKind.APPROVE.value}:": DAILY // AMOUNT,
        f"{RiskDecisionKind.DECLINE.value}:limit_user_day_amount": THREADS - DAILY // AMOUNT,
    }
    with pg_factory() as s:
        assert usage(s, "user", str(user.id), Period.DAY, NOW) == (DAILY // AMOUNT, DAILY)
