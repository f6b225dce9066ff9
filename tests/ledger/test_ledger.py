"""Ledger behaviour pinned by example (SQLite; PostgreSQL has its own files)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.ledger.helpers import deposit, spend_legs
from wallet.db.models import JournalEntry, LedgerAccount, LedgerBalance
from wallet.db.session import transaction
from wallet.errors import (
    AssetMismatch,
    EntryConflict,
    HoldNotPending,
    InsufficientFunds,
    InvalidAccount,
    InvalidAmount,
    InvalidPosting,
    InvariantViolation,
    UnbalancedEntry,
    UnknownAsset,
)
from wallet.ledger import (
    check_invariants,
    derive_balance,
    get_balance,
    parse_account,
    place_hold,
    post_entry,
    post_hold,
    void_hold,
)
from wallet.ledger.accounts import AccountType

WEI_PER_ETH = 10**18


@pytest.mark.parametrize(
    ("code", "type_", "asset", "may_go_negative"),
    [
        ("user:7:wallet:ETH", AccountType.LIABILITY, "ETH", False),
        ("merchant:3:payable", AccountType.LIABILITY, "INR", False),
        ("escrow:solana:USDC-SPL", AccountType.ASSET, "USDC-SPL", True),
        ("hot:bitcoin:BTC", AccountType.ASSET, "BTC", True),
        ("exchange:binance:USDT", AccountType.ASSET, "USDT", True),
        ("float:INR", AccountType.ASSET, "INR", True),
        ("payout_clearing:INR", AccountType.LIABILITY, "INR", True),
        ("revenue:fees:ETH", AccountType.REVENUE, "ETH", True),
        ("expense:network_fees:SOL", AccountType.EXPENSE, "SOL", True),
        ("rounding:INR", AccountType.REVENUE, "INR", True),
        ("suspense:DOGE", AccountType.LIABILITY, "DOGE", True),
        ("external:trading:binance:ETH", AccountType.EQUITY, "ETH", True),
    ],
)
def test_account_codes_say_what_the_account_is(
    code: str, type_: AccountType, asset: str, may_go_negative: bool
) -> None:
    spec = parse_account(code)
    assert (spec.type, spec.asset, spec.may_go_negative) == (type_, asset, may_go_negative)
    assert spec.normal_sign == (1 if type_ in (AccountType.ASSET, AccountType.EXPENSE) else -1)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("user:abc:wallet:ETH", InvalidAccount),
        ("user:07:wallet:ETH", InvalidAccount),
        ("escrow:fiat:INR", InvalidAccount),
        ("escrow:mars:ETH", InvalidAccount),
        ("float:ETH", InvalidAccount),
        ("external:ETH", InvalidAccount),
        ("USER:1:wallet:ETH", InvalidAccount),
        ("user:1:wallet:WAT", UnknownAsset),
    ],
)
def test_bad_account_codes_are_refused(code: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_account(code)


def test_wei_amounts_beyond_64_bits_balance_exactly(sqlite_factory: sessionmaker[Session]) -> None:
    big = 123_456_789 * WEI_PER_ETH + 1  # > 2**64
    deposit(sqlite_factory, 1, "ETH", big)
    with transaction(sqlite_factory) as session:
        post_entry(session, spend_legs(1, "ETH", big - 1), kind="spend", ref="a")
        assert get_balance(session, "user:1:wallet:ETH").balance == 1
        assert derive_balance(session, "user:1:wallet:ETH") == 1
        assert get_balance(session, "escrow:ethereum:ETH").balance == big
        check_invariants(session)


@pytest.mark.parametrize(
    ("postings", "error"),
    [
        ([], InvalidPosting),
        ([("float:INR", "INR", 5)], InvalidPosting),
        (
            [("float:INR", "INR", 5), ("rounding:INR", "INR", 0), ("rounding:INR", "INR", -5)],
            InvalidPosting,
        ),
        ([("float:INR", "INR", 5.0), ("rounding:INR", "INR", -5)], InvalidAmount),
        ([("float:INR", "INR", True), ("rounding:INR", "INR", -1)], InvalidAmount),
        ([("float:INR", "INR", 5), ("rounding:INR", "INR", -4)], UnbalancedEntry),
        ([("float:INR", "ETH", 5), ("rounding:ETH", "ETH", -5)], AssetMismatch),
        ([("float:INR", "INR", 5), ("nowhere:INR", "INR", -5)], InvalidAccount),
        # Balanced in total but not per asset: still refused.
        ([("float:INR", "INR", 5), ("rounding:ETH", "ETH", -5)], UnbalancedEntry),
    ],
)
def test_invalid_entries_are_refused_and_change_nothing(
    sqlite_factory: sessionmaker[Session], postings: list, error: type[Exception]
) -> None:
    with sqlite_factory() as session, session.begin():
        with pytest.raises(error) as info:
            post_entry(session, postings, kind="t", ref="x")
        assert info.value.code  # type: ignore[attr-defined]
    with sqlite_factory() as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 0
        assert session.scalar(select(func.count()).select_from(LedgerAccount)) == 0


def test_a_retried_post_returns_the_first_entry(sqlite_factory: sessionmaker[Session]) -> None:
    deposit(sqlite_factory, 1, "INR", 1000)
    with transaction(sqlite_factory) as session:
        first = post_entry(session, spend_legs(1, "INR", 300), kind="spend", ref="p1")
    with transaction(sqlite_factory) as session:
        again = post_entry(
            session, list(reversed(spend_legs(1, "INR", 300))), kind="spend", ref="p1"
        )
        assert again.id == first.id
        assert get_balance(session, "user:1:wallet:INR").balance == 700
        with pytest.raises(EntryConflict):
            post_entry(session, spend_legs(1, "INR", 301), kind="spend", ref="p1")


def test_overdraft_refused_and_the_session_stays_usable(
    sqlite_factory: sessionmaker[Session],
) -> None:
    deposit(sqlite_factory, 1, "INR", 500)
    with transaction(sqlite_factory) as session:
        with pytest.raises(InsufficientFunds):
            post_entry(session, spend_legs(1, "INR", 501), kind="spend", ref="too-much")
        post_entry(session, spend_legs(1, "INR", 500), kind="spend", ref="all")
    with sqlite_factory() as session:
        assert get_balance(session, "user:1:wallet:INR").balance == 0
        check_invariants(session)


def test_reserved_kinds_are_refused(sqlite_factory: sessionmaker[Session]) -> None:
    with sqlite_factory() as session, session.begin(), pytest.raises(InvalidPosting):
        post_entry(session, spend_legs(1, "INR", 1), kind="hold.post", ref="h")


def test_hold_lifecycle_and_available_balance(sqlite_factory: sessionmaker[Session]) -> None:
    deposit(sqlite_factory, 5, "ETH", 1000)
    with transaction(sqlite_factory) as session:
        place_hold(session, "user:5:wallet:ETH", "ETH", 800, ref="pay-1")
        bal = get_balance(session, "user:5:wallet:ETH")
        assert (bal.balance, bal.held, bal.available) == (1000, 800, 200)
        with pytest.raises(InsufficientFunds):
            post_entry(session, spend_legs(5, "ETH", 201), kind="spend", ref="s")
        with pytest.raises(InsufficientFunds):
            place_hold(session, "user:5:wallet:ETH", "ETH", 201, ref="pay-2")
        # Post for less than held: the rest comes back.
        entry = post_hold(session, "pay-1", [("revenue:fees:ETH", 10), ("user:6:wallet:ETH", 690)])
        bal = get_balance(session, "user:5:wallet:ETH")
        assert (bal.balance, bal.held, bal.available) == (300, 0, 300)
        assert get_balance(session, "user:6:wallet:ETH").balance == 690
        # A retry of the same post returns the same entry; voiding it now is refused.
        assert (
            post_hold(session, "pay-1", [("revenue:fees:ETH", 10), ("user:6:wallet:ETH", 690)]).id
            == entry.id
        )
        with pytest.raises(HoldNotPending):
            void_hold(session, "pay-1")
        place_hold(session, "user:5:wallet:ETH", "ETH", 300, ref="pay-3")
        void_hold(session, "pay-3")
        void_hold(session, "pay-3")  # idempotent
        assert get_balance(session, "user:5:wallet:ETH").available == 300
        with pytest.raises(HoldNotPending):
            post_hold(session, "pay-3", [("revenue:fees:ETH", 1)])
        check_invariants(session)


def test_check_invariants_catches_a_tampered_cache(sqlite_factory: sessionmaker[Session]) -> None:
    deposit(sqlite_factory, 1, "INR", 100)
    with sqlite_factory() as session:  # rolled back on close
        check_invariants(session)
        row = session.scalars(select(LedgerBalance)).first()
        assert row is not None
        row.balance += 1
        session.flush()
        with pytest.raises(InvariantViolation, match="caches"):
            check_invariants(session)


def test_a_refused_hold_post_keeps_the_hold(sqlite_factory: sessionmaker[Session]) -> None:
    """Posting escrow's hold to an empty payer wallet would overdraw the payer."""
    with sqlite_factory() as session, session.begin():
        place_hold(session, "escrow:ethereum:ETH", "ETH", 100, ref="refund-1")
        with pytest.raises(InsufficientFunds):
            post_hold(session, "refund-1", [("user:9:wallet:ETH", 50)])
        # Committed on purpose: the refusal must have left nothing half-done.
    with sqlite_factory() as session:
        assert get_balance(session, "escrow:ethereum:ETH").held == 100
        assert get_balance(session, "user:9:wallet:ETH").balance == 0
        check_invariants(session)
