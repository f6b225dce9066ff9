"""No overdraft under concurrency (G2), and lost races are retried.

50 threads each try to spend one payer's whole balance at REPEATABLE READ,
where PostgreSQL answers a conflicting update with a serialization failure
instead of waiting: ``run_in_transaction`` must retry those, and the row
locks must let exactly one spend through.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.ledger.helpers import deposit, fresh_user_id, spend_legs
from wallet.db.models import LedgerAccount, LedgerBalance
from wallet.db.retry import run_in_transaction
from wallet.db.session import make_engine, make_session_factory
from wallet.errors import InsufficientFunds
from wallet.ledger import check_invariants, get_balance, post_entry

pytestmark = pytest.mark.postgres

THREADS = 50
BALANCE = 10**21  # 1000 ETH in wei: larger than 64 bits


def _factory(url: str, isolation: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(url, isolation_level=isolation, pool_size=10, max_overflow=0)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def rr_factory(pg_migrated_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions at REPEATABLE READ, with a small pool the threads share."""
    yield from _factory(pg_migrated_url, "REPEATABLE READ")


@pytest.fixture(params=["READ COMMITTED", "REPEATABLE READ"])
def racing_factory(
    request: pytest.FixtureRequest, pg_migrated_url: str
) -> Iterator[sessionmaker[Session]]:
    """READ COMMITTED: the row lock alone must serialise the spends.
    REPEATABLE READ: conflicts surface as serialization failures to retry."""
    yield from _factory(pg_migrated_url, request.param)


def test_fifty_threads_spend_one_balance_exactly_once(
    pg_factory: sessionmaker[Session], racing_factory: sessionmaker[Session]
) -> None:
    user = fresh_user_id()
    code = f"user:{user}:wallet:ETH"
    deposit(pg_factory, user, "ETH", BALANCE)
    outcomes: Counter[str] = Counter()
    attempts: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(THREADS)
    done = threading.Event()
    seen_negative: list[int] = []

    def spend(session: Session) -> int:
        with lock:
            attempts["total"] += 1
        return post_entry(
            session, spend_legs(user, "ETH", BALANCE), kind="spend", ref=uuid.uuid4().hex
        ).id

    def worker() -> None:
        start.wait()
        try:
            run_in_transaction(racing_factory, spend, retries=50)
            result = "spent"
        except InsufficientFunds:
            result = "refused"
        except Exception as exc:  # recorded, then asserted below
            result = f"error: {exc!r}"
        with lock:
            outcomes[result] += 1

    def watch() -> None:
        """Sample the committed balance while the threads race."""
        while not done.is_set():
            with pg_factory() as session:
                normal = get_balance(session, code).balance
            if normal < 0:
                seen_negative.append(normal)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    watcher.join()

    assert outcomes == Counter({"spent": 1, "refused": THREADS - 1})
    assert not seen_negative
    assert attempts["total"] >= THREADS, attempts
    with pg_factory() as session:
        assert get_balance(session, code).balance == 0
        check_invariants(session)


def test_serialization_failure_is_retried(
    pg_factory: sessionmaker[Session], rr_factory: sessionmaker[Session]
) -> None:
    """Deterministic: the first run's snapshot goes stale, the retry succeeds."""
    user = fresh_user_id()
    code = f"user:{user}:wallet:ETH"
    deposit(pg_factory, user, "ETH", 100)
    runs = 0

    def spend_after_interference(session: Session) -> None:
        nonlocal runs
        runs += 1
        # Take the REPEATABLE READ snapshot now...
        session.execute(
            select(LedgerBalance.balance)
            .join(LedgerAccount, LedgerAccount.id == LedgerBalance.account_id)
            .where(LedgerAccount.code == code)
        ).scalar_one()
        if runs == 1:
            # ...then another transaction changes the row and commits.
            deposit(pg_factory, user, "ETH", 1)
        post_entry(session, spend_legs(user, "ETH", 101), kind="spend", ref=uuid.uuid4().hex)

    run_in_transaction(rr_factory, spend_after_interference)
    assert runs == 2
    with pg_factory() as session:
        assert get_balance(session, code).balance == 0
