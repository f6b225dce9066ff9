"""post_entry's paths on both backends: first use, replay, refusal, holds, races.

The PostgreSQL path decides and writes in one statement, SQLite in
several; both must give the same answers. The PostgreSQL schema is shared
by the test session, so every test uses fresh user ids and refs.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.ledger.helpers import deposit, fresh_user_id, spend_legs
from wallet.db.models import JournalEntry, LedgerAccount, LedgerBalance, Posting
from wallet.db.retry import run_in_transaction
from wallet.db.session import transaction
from wallet.errors import EntryConflict, InsufficientFunds
from wallet.ledger import (
    check_invariants,
    derive_balance,
    ensure_account,
    entry_postings,
    get_balance,
    place_hold,
    post_entry,
    post_hold,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def factory(request: pytest.FixtureRequest) -> sessionmaker[Session]:
    name = "sqlite_factory" if request.param == "sqlite" else "pg_factory"
    return request.getfixturevalue(name)


def _wallet(user: int, asset: str = "INR") -> str:
    return f"user:{user}:wallet:{asset}"


def _accounts(session: Session, *codes: str) -> int:
    return session.scalar(
        select(func.count()).select_from(LedgerAccount).where(LedgerAccount.code.in_(codes))
    )


def test_first_use_opens_accounts_and_writes_exact_rows(factory: sessionmaker[Session]) -> None:
    user = fresh_user_id()
    big = 10**30  # beyond 64 bits, through the array parameters
    with transaction(factory) as session:
        entry = post_entry(
            session,
            [("escrow:ethereum:ETH", "ETH", big), (_wallet(user, "ETH"), "ETH", -big)],
            kind="deposit",
            ref=uuid.uuid4().hex,
            memo="first",
        )
        assert session.get(JournalEntry, entry.id) is entry  # attached, no reload needed
    with factory() as session:
        stored = session.get_one(JournalEntry, entry.id)
        assert (stored.kind, stored.ref, stored.memo) == (entry.kind, entry.ref, "first")
        assert entry_postings(session, entry.id) == [
            ("escrow:ethereum:ETH", "ETH", big),
            (_wallet(user, "ETH"), "ETH", -big),
        ]
        assert get_balance(session, _wallet(user, "ETH")).balance == big
        assert derive_balance(session, _wallet(user, "ETH")) == big
        check_invariants(session)


def test_a_refused_first_use_leaves_no_account_and_the_session_usable(
    factory: sessionmaker[Session],
) -> None:
    payer, payee = fresh_user_id(), fresh_user_id()
    spend = [(_wallet(payer), "INR", 5), (_wallet(payee), "INR", -5)]
    with transaction(factory) as session:
        with pytest.raises(InsufficientFunds):
            post_entry(session, spend, kind="spend", ref=uuid.uuid4().hex)
        assert _accounts(session, _wallet(payer), _wallet(payee)) == 0
        # The same transaction goes on and commits a valid entry.
        deposit_legs = [("float:INR", "INR", 7), (_wallet(payer), "INR", -7)]
        post_entry(session, deposit_legs, kind="deposit", ref=uuid.uuid4().hex)
    with factory() as session:
        assert _accounts(session, _wallet(payer), _wallet(payee)) == 1
        assert get_balance(session, _wallet(payer)).balance == 7
        check_invariants(session)


def test_a_refusal_on_existing_accounts_writes_nothing(factory: sessionmaker[Session]) -> None:
    user = fresh_user_id()
    deposit(factory, user, "INR", 100)
    ref = uuid.uuid4().hex
    with transaction(factory) as session:
        with pytest.raises(InsufficientFunds, match="has 100 available"):
            post_entry(session, spend_legs(user, "INR", 101), kind="spend", ref=ref)
        post_entry(session, spend_legs(user, "INR", 100), kind="spend", ref=ref + "-ok")
    with factory() as session:
        assert session.scalar(select(JournalEntry.id).where(JournalEntry.ref == ref)) is None
        assert get_balance(session, _wallet(user)).balance == 0
        check_invariants(session)


def test_a_retry_is_replayed_even_when_posting_again_would_overdraw(
    factory: sessionmaker[Session],
) -> None:
    user = fresh_user_id()
    deposit(factory, user, "INR", 300)
    ref = uuid.uuid4().hex
    with transaction(factory) as session:
        first = post_entry(session, spend_legs(user, "INR", 300), kind="spend", ref=ref)
    with transaction(factory) as session:
        # The wallet is empty now: a second post would overdraw, a retry must not.
        again = post_entry(session, spend_legs(user, "INR", 300), kind="spend", ref=ref)
        assert again.id == first.id
        with pytest.raises(EntryConflict):
            post_entry(session, spend_legs(user, "INR", 299), kind="spend", ref=ref)
        with pytest.raises(EntryConflict):  # would fit the balance: still a conflict
            post_entry(
                session,
                [("float:INR", "INR", 1), (_wallet(user), "INR", -1)],
                kind="spend",
                ref=ref,
            )
    with factory() as session:
        count = select(func.count()).select_from(Posting).where(Posting.entry_id == first.id)
        assert session.scalar(count) == 2
        assert get_balance(session, _wallet(user)).balance == 0
        check_invariants(session)


def test_an_account_from_a_rolled_back_transaction_is_not_remembered(
    factory: sessionmaker[Session],
) -> None:
    """Account ids are resolved by code in the posting statement itself, every time.

    The classic bug this guards against: an id remembered from a transaction
    that rolled back. SQLite even hands the same id to the next account, so
    a stale id would post to someone else's account.
    """
    ghost, other = fresh_user_id(), fresh_user_id()
    with factory() as session, session.begin():
        ensure_account(session, _wallet(ghost))
        post_entry(
            session,
            [("float:INR", "INR", 50), (_wallet(ghost), "INR", -50)],
            kind="deposit",
            ref=uuid.uuid4().hex,
        )
        session.rollback()
    deposit(factory, other, "INR", 20)  # may take the rolled-back ids on SQLite
    deposit(factory, ghost, "INR", 30)
    with factory() as session:
        assert get_balance(session, _wallet(ghost)).balance == 30
        assert get_balance(session, _wallet(other)).balance == 20
        check_invariants(session)


def test_posting_a_hold_releases_it_in_the_same_statement(factory: sessionmaker[Session]) -> None:
    user, vendor = fresh_user_id(), fresh_user_id()
    deposit(factory, user, "ETH", 1000)
    ref = uuid.uuid4().hex
    with transaction(factory) as session:
        place_hold(session, _wallet(user, "ETH"), "ETH", 800, ref=ref)
        with pytest.raises(InsufficientFunds):
            post_entry(session, spend_legs(user, "ETH", 201), kind="spend", ref=ref + "-s")
        # Posting 700 of the 800 held: 100 comes back, and 300 is available.
        post_hold(session, ref, [(_wallet(vendor, "ETH"), 700)])
        bal = get_balance(session, _wallet(user, "ETH"))
        assert (bal.balance, bal.held, bal.available) == (300, 0, 300)
        # The balance object place_hold loaded is reloaded, not served stale.
        check_invariants(session)
    with factory() as session:
        assert get_balance(session, _wallet(vendor, "ETH")).balance == 700
        check_invariants(session)


def test_balance_objects_loaded_before_a_post_are_not_stale(factory: sessionmaker[Session]) -> None:
    user = fresh_user_id()
    deposit(factory, user, "INR", 100)
    with transaction(factory) as session:
        loaded = session.scalars(
            select(LedgerBalance)
            .join(LedgerAccount, LedgerAccount.id == LedgerBalance.account_id)
            .where(LedgerAccount.code == _wallet(user))
        ).one()
        assert loaded.balance == -100  # credit-normal: the raw sum is negative
        post_entry(session, spend_legs(user, "INR", 40), kind="spend", ref=uuid.uuid4().hex)
        assert loaded.balance == -60


@pytest.mark.postgres
def test_concurrent_posts_lose_no_update_and_twins_post_once(
    pg_factory: sessionmaker[Session],
) -> None:
    """8 threads post to the same two accounts; half of them also race on one ref."""
    user = fresh_user_id()
    deposit(pg_factory, user, "INR", 1)  # open the accounts first
    twin_ref = uuid.uuid4().hex
    threads, per_thread = 8, 15
    ids: Counter[int] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        start.wait()
        try:
            if n % 2 == 0:
                entry_id = run_in_transaction(
                    pg_factory,
                    lambda s: post_entry(
                        s, [("float:INR", "INR", 1000), (_wallet(user), "INR", -1000)],
                        kind="deposit", ref=twin_ref,
                    ).id,
                )  # fmt: skip
                with lock:
                    ids[entry_id] += 1
            for _ in range(per_thread):
                run_in_transaction(
                    pg_factory,
                    lambda s: post_entry(
                        s, [("float:INR", "INR", 1), (_wallet(user), "INR", -1)],
                        kind="deposit", ref=uuid.uuid4().hex,
                    ),
                )  # fmt: skip
        except BaseException as exc:  # asserted below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)

    assert not errors, errors
    assert len(ids) == 1 and sum(ids.values()) == threads // 2, ids  # one entry, same id
    with pg_factory() as session:
        want = 1 + 1000 + threads * per_thread
        assert get_balance(session, _wallet(user)).balance == want
        assert derive_balance(session, _wallet(user)) == want
        check_invariants(session)
