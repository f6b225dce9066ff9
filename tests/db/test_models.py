"""Constraints that protect money and identity hold on SQLite too."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from tests.payments.helpers import make_payment, make_user
from wallet.db.base import Base
from wallet.db.models import ChainObservation, Credit, User, WalletAddress
from wallet.db.models.payments import Payment
from wallet.db.session import transaction


def test_every_constraint_is_named_by_the_convention() -> None:
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            assert constraint.name, (table.name, constraint)
            assert str(constraint.name).split("_")[0] in {"pk", "uq", "ck", "fk"}


def test_emails_are_stored_lower_case_and_unique(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as session:
        user = User(email="  Asha@Example.COM ", password_hash="h")
        session.add(user)
    assert user.email == "asha@example.com"
    with pytest.raises(IntegrityError), transaction(sqlite_factory) as session:
        session.add(User(email="ASHA@example.com", password_hash="h"))
    # Raw SQL cannot sneak a mixed-case duplicate past the CHECK either.
    with pytest.raises(IntegrityError), sqlite_factory() as session:
        session.execute(
            text(
                "INSERT INTO users (email, password_hash, role, kyc_tier, status, created_at)"
                " VALUES ('Asha@example.com', 'h', 'payer', 0, 'active', '2026-01-01')"
            )
        )


def test_one_credit_per_chain_output(sqlite_factory: sessionmaker[Session]) -> None:
    def credit(amount: int) -> Credit:
        return Credit(
            chain="bitcoin", txid="ab" * 32, idx=1, asset="BTC", address="bc1q", amount_minor=amount
        )

    with transaction(sqlite_factory) as session:
        session.add(credit(5000))
    with pytest.raises(IntegrityError), transaction(sqlite_factory) as session:
        session.add(credit(5000))


def test_observations_are_unique_per_block(sqlite_factory: sessionmaker[Session]) -> None:
    def seen(block_hash: str) -> ChainObservation:
        return ChainObservation(
            chain="ethereum",
            txid="0x" + "1" * 64,
            idx=3,
            asset="USDC",
            address="0xabc",
            amount_minor=10**6,
            block_number=10,
            block_hash=block_hash,
            status="success",
        )

    with transaction(sqlite_factory) as session:
        session.add_all([seen("0xaa"), seen("0xbb")])  # the same log in two forks
    with pytest.raises(IntegrityError), transaction(sqlite_factory) as session:
        session.add(seen("0xaa"))


def test_addresses_are_unique_per_chain(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as session:
        session.add(
            WalletAddress(chain="ethereum", purpose="deposit", address="0x1", derivation_index=0)
        )
        session.add(
            WalletAddress(chain="solana", purpose="deposit", address="0x1", derivation_index=0)
        )
    with pytest.raises(IntegrityError), transaction(sqlite_factory) as session:
        session.add(
            WalletAddress(chain="ethereum", purpose="deposit", address="0x2", derivation_index=0)
        )


@pytest.mark.parametrize("amount", [0, -1])
def test_payment_amounts_must_be_positive(
    sqlite_factory: sessionmaker[Session], amount: int
) -> None:
    with transaction(sqlite_factory) as session:
        user_id = make_user(session).id
    with (
        pytest.raises(IntegrityError, match="amount_minor_positive"),
        transaction(sqlite_factory) as session,
    ):
        payment = make_payment(session, user_id)
        payment.amount_minor = amount
        session.flush()


def test_amounts_refuse_floats_and_keep_wei_exact(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as session:
        user_id = make_user(session).id
        payment = make_payment(session, user_id)
        payment.amount_minor = 2**70 + 1
    with sqlite_factory() as session:
        assert session.get_one(Payment, payment.id).amount_minor == 2**70 + 1
    with pytest.raises(StatementError, match="must be int"), transaction(sqlite_factory) as s:
        s.get_one(Payment, payment.id).amount_minor = 1.5  # type: ignore[assignment]


def test_statuses_outside_the_enum_are_refused(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as session:
        user_id = make_user(session).id
        payment_id = make_payment(session, user_id).id
    with pytest.raises(IntegrityError, match="payment_status"), sqlite_factory() as session:
        session.execute(
            text("UPDATE payments SET status = 'teleported' WHERE id = :id"), {"id": payment_id}
        )


def test_tables_exist(sqlite_factory: sessionmaker[Session]) -> None:
    with sqlite_factory() as session:
        names = set(inspect(session.get_bind()).get_table_names())
    assert {
        "users",
        "merchants",
        "wallet_addresses",
        "quotes",
        "payments",
        "payment_events",
        "chain_observations",
        "credits",
        "settlements",
        "settlement_attempts",
        "exchange_orders",
        "payouts",
        "ledger_accounts",
        "ledger_balances",
        "journal_entries",
        "postings",
        "ledger_holds",
        "idempotency_keys",
        "audit_log",
        "outbox",
    } <= names
