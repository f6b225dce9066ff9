"""PostgreSQL enforces the ledger itself, even for SQL that bypasses the ORM (G1).

Each test writes raw SQL on a plain connection in the session schema,
migrated by the real Alembic scripts, and checks the database refuses it.
A positive control proves the same raw path can commit a correct entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tests.ledger.helpers import deposit, fresh_user_id
from wallet.db.session import transaction
from wallet.ledger import check_invariants, ensure_account, get_balance, place_hold, void_hold

pytestmark = pytest.mark.postgres


@pytest.fixture
def accounts(pg_factory: sessionmaker[Session]) -> dict[str, int]:
    """A funded payer wallet and fee revenue account: code -> account id."""
    user = fresh_user_id()
    deposit(pg_factory, user, "ETH", 1000)
    codes = [f"user:{user}:wallet:ETH", "revenue:fees:ETH", "escrow:ethereum:ETH"]
    with transaction(pg_factory) as session:
        for code in codes:
            ensure_account(session, code)
    with pg_factory() as session:
        rows = session.execute(
            text("SELECT code, id FROM ledger_accounts WHERE code = ANY(:codes)"),
            {"codes": codes},
        )
        found = {code: account_id for code, account_id in rows}
    found["user"] = found[codes[0]]
    return found


@pytest.fixture
def conn(pg_engine: Engine, pg_migrated_url: str) -> Iterator[Connection]:
    with pg_engine.connect() as connection:
        yield connection


def _entry(conn: Connection) -> int:
    return int(
        conn.execute(
            text(
                "INSERT INTO journal_entries (kind, ref, created_at)"
                " VALUES ('raw', :ref, now()) RETURNING id"
            ),
            {"ref": uuid.uuid4().hex},
        ).scalar_one()
    )


def _posting(conn: Connection, entry_id: int, account_id: int, amount: int) -> None:
    conn.execute(
        text(
            "INSERT INTO postings (entry_id, account_id, asset, amount)"
            " VALUES (:e, :a, 'ETH', :amount)"
        ),
        {"e": entry_id, "a": account_id, "amount": amount},
    )


def _count_entries(conn: Connection, entry_id: int) -> int:
    return int(
        conn.execute(
            text("SELECT count(*) FROM journal_entries WHERE id = :id"), {"id": entry_id}
        ).scalar_one()
    )


def test_balanced_raw_entry_commits(conn: Connection, accounts: dict[str, int]) -> None:
    """Positive control: the raw path itself works when the entry is right."""
    with conn.begin():
        entry = _entry(conn)
        _posting(conn, entry, accounts["escrow:ethereum:ETH"], 7)
        _posting(conn, entry, accounts["revenue:fees:ETH"], -7)
        for account, delta in (
            (accounts["escrow:ethereum:ETH"], 7),
            (accounts["revenue:fees:ETH"], -7),
        ):
            conn.execute(
                text("UPDATE ledger_balances SET balance = balance + :d WHERE account_id = :a"),
                {"d": delta, "a": account},
            )
    assert _count_entries(conn, entry) == 1
    conn.rollback()


@pytest.mark.parametrize("legs", [[5, -4], [5], [], [3, -3, 1]])
def test_unbalanced_entry_cannot_commit(
    conn: Connection, accounts: dict[str, int], legs: list[int]
) -> None:
    entry = 0
    with pytest.raises(IntegrityError, match="journal entry"), conn.begin():
        entry = _entry(conn)
        targets = [accounts["escrow:ethereum:ETH"], accounts["revenue:fees:ETH"]] * 2
        for account, amount in zip(targets, legs, strict=False):
            _posting(conn, entry, account, amount)
        # Each statement succeeded: only COMMIT runs the deferred check.
    assert entry and _count_entries(conn, entry) == 0
    conn.rollback()


def test_zero_amount_is_refused(conn: Connection, accounts: dict[str, int]) -> None:
    with pytest.raises(IntegrityError, match="ck_postings_amount_non_zero"), conn.begin():
        entry = _entry(conn)
        _posting(conn, entry, accounts["escrow:ethereum:ETH"], 0)
    conn.rollback()


def test_posting_in_the_wrong_asset_is_refused(conn: Connection, accounts: dict[str, int]) -> None:
    with pytest.raises(IntegrityError, match="fk_postings_account_id"), conn.begin():
        entry = _entry(conn)
        conn.execute(
            text(
                "INSERT INTO postings (entry_id, account_id, asset, amount)"
                " VALUES (:e, :a, 'INR', 5)"
            ),
            {"e": entry, "a": accounts["escrow:ethereum:ETH"]},
        )
    conn.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE postings SET amount = amount * 2 WHERE account_id = :user",
        "DELETE FROM postings WHERE account_id = :user",
        "UPDATE journal_entries SET ref = ref || 'x' WHERE id IN"
        " (SELECT entry_id FROM postings WHERE account_id = :user)",
        "DELETE FROM journal_entries WHERE id IN"
        " (SELECT entry_id FROM postings WHERE account_id = :user)",
        "TRUNCATE postings CASCADE",
    ],
)
def test_posted_rows_cannot_be_changed(
    conn: Connection, accounts: dict[str, int], statement: str
) -> None:
    with pytest.raises(IntegrityError, match="append-only"), conn.begin():
        conn.execute(text(statement), {"user": accounts["user"]})
    conn.rollback()


@pytest.mark.parametrize("table", ["audit_log", "chain_observations"])
def test_append_only_tables_refuse_update_and_delete(conn: Connection, table: str) -> None:
    with conn.begin():
        if table == "audit_log":
            conn.execute(
                text(
                    "INSERT INTO audit_log (actor, action, subject_type, subject_id, data, at)"
                    " VALUES ('test', 'probe', 'thing', '1', '{}', now())"
                )
            )
        else:
            conn.execute(
                text(
                    "INSERT INTO chain_observations (chain, txid, idx, asset, address,"
                    " amount_minor, status, observed_at)"
                    " VALUES ('ethereum', :tx, 0, 'ETH', '0xabc', 5, 'mempool', now())"
                ),
                {"tx": uuid.uuid4().hex},
            )
    for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(IntegrityError, match="append-only"), conn.begin():
            conn.execute(text(statement))
        conn.rollback()


def test_overdraft_is_refused_on_the_balance_row(
    conn: Connection, accounts: dict[str, int]
) -> None:
    # The payer's wallet is credit-normal: a positive raw balance is an overdraft.
    with pytest.raises(IntegrityError, match="ck_ledger_balances_no_overdraft"), conn.begin():
        conn.execute(
            text("UPDATE ledger_balances SET balance = 1 WHERE account_id = :a"),
            {"a": accounts["user"]},
        )
    conn.rollback()


def test_resolved_hold_cannot_change(
    conn: Connection, pg_factory: sessionmaker[Session], accounts: dict[str, int]
) -> None:
    code = next(c for c in accounts if c.startswith("user:"))
    ref = uuid.uuid4().hex
    with transaction(pg_factory) as session:
        place_hold(session, code, "ETH", 10, ref=ref)
        void_hold(session, ref)
    for statement in (
        "UPDATE ledger_holds SET status = 'pending', resolved_at = NULL WHERE ref = :ref",
        "DELETE FROM ledger_holds WHERE ref = :ref",
    ):
        with pytest.raises(DBAPIError, match="hold"), conn.begin():
            conn.execute(text(statement), {"ref": ref})
        conn.rollback()
    with pg_factory() as session:
        assert get_balance(session, code).held == 0
        check_invariants(session)
