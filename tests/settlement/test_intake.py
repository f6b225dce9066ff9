"""Quotes persisted, payments opened: holds, expiry, funds, idempotency, ownership."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import VPA, fund, new_user, sol_calculator
from wallet.db.models import LedgerHold, Payment, PaymentEvent, PaymentSource, Quote, QuoteStatus
from wallet.db.models.users import Merchant, MerchantStatus, User, UserStatus
from wallet.db.session import transaction
from wallet.errors import WalletError
from wallet.ledger import check_invariants, get_balance, user_wallet
from wallet.payments.intake import create_payment, create_quote, hold_ref
from wallet.payments.states import PaymentStatus

NOW = datetime.now(UTC)


def _quote(session: Session, uid: int, inr: int = 50_000, now: datetime = NOW) -> Quote:
    return create_quote(
        session, uid, asset="SOL", calculate=sol_calculator(now), payee_vpa=VPA, amount_paise=inr
    )


def test_custodial_payment_holds_the_quoted_crypto_and_is_ready_to_settle(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        uid = new_user(s)
        fund(s, uid, "SOL", 10**9)
        quote = _quote(s, uid)
        payment = create_payment(s, uid, quote.id, "custodial", now=NOW)
    with factory() as s:
        stored = s.get_one(Quote, quote.id)
        assert stored.status is QuoteStatus.ACCEPTED
        assert stored.amount_inr_paise == 50_000 and stored.fees["target_paise"] > 50_000
        p = s.get_one(Payment, payment.id)
        assert p.status is PaymentStatus.CONFIRMED and p.amount_minor == quote.amount_minor
        bal = get_balance(s, user_wallet(uid, "SOL"))
        assert (bal.balance, bal.held) == (10**9, quote.amount_minor)
        hold = s.scalars(select(LedgerHold).where(LedgerHold.ref == hold_ref(p.id))).one()
        assert hold.amount == quote.amount_minor
        steps = s.scalars(
            select(PaymentEvent.to_status)
            .where(PaymentEvent.payment_id == p.id)
            .order_by(PaymentEvent.version)
        ).all()
        assert steps == ["quote_issued", "awaiting_funds", "detected", "confirmed"]
        check_invariants(s)


def test_expired_quote_is_refused_before_any_funds_move(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        uid = new_user(s)
        fund(s, uid, "SOL", 10**9)
        quote_id = _quote(s, uid).id
    late = NOW + timedelta(seconds=91)
    with pytest.raises(WalletError) as err, transaction(factory) as s:
        create_payment(s, uid, quote_id, "custodial", now=late)
    assert err.value.code == "quote_expired"
    with factory() as s:
        assert s.scalar(select(func.count(Payment.id))) == 0
        assert get_balance(s, user_wallet(uid, "SOL")).held == 0


def test_insufficient_funds_has_a_stable_code_and_leaves_nothing(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        uid = new_user(s)
        fund(s, uid, "SOL", 1_000)  # far less than ₹500 of SOL
        quote_id = _quote(s, uid).id
    with pytest.raises(WalletError) as err, transaction(factory) as s:
        create_payment(s, uid, quote_id, "custodial", now=NOW)
    assert err.value.code == "insufficient_funds"
    with factory() as s:
        assert s.scalar(select(func.count(Payment.id))) == 0
        assert s.scalar(select(func.count(LedgerHold.id))) == 0
        assert s.get_one(Quote, quote_id).status is QuoteStatus.ISSUED
        check_invariants(s)


def test_one_payment_per_quote_and_quotes_are_private(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        uid, other = new_user(s), new_user(s)
        fund(s, uid, "SOL", 10**9)
        quote_id = _quote(s, uid).id
    with transaction(factory) as s:
        first = create_payment(s, uid, quote_id, "custodial", now=NOW).id
    with transaction(factory) as s:
        assert create_payment(s, uid, quote_id, "custodial", now=NOW).id == first
    for who, source, code in [
        (uid, "external", "payment_conflict"),
        (other, "custodial", "quote_not_found"),
    ]:
        with pytest.raises(WalletError) as err, transaction(factory) as s:
            create_payment(s, who, quote_id, source, now=NOW)
        assert err.value.code == code
    with factory() as s:
        assert get_balance(s, user_wallet(uid, "SOL")).held > 0
        assert s.scalar(select(func.count(LedgerHold.id))) == 1


def test_external_payment_awaits_funds_at_its_deposit_address(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        uid = new_user(s)
        quote_id = _quote(s, uid).id
        payment = create_payment(
            s, uid, quote_id, PaymentSource.EXTERNAL, now=NOW, assign_deposit=lambda _s, p: "Dep1"
        )
    with factory() as s:
        p = s.get_one(Payment, payment.id)
        assert (p.status, p.deposit_address) == (PaymentStatus.AWAITING_FUNDS, "Dep1")
        assert s.scalar(select(func.count(LedgerHold.id))) == 0


def test_a_static_qr_needs_an_amount(factory: sessionmaker[Session]) -> None:
    with pytest.raises(WalletError) as err, transaction(factory) as s:
        uid = new_user(s)
        create_quote(
            s, uid, asset="SOL", calculate=sol_calculator(NOW), payee_vpa=VPA, amount_paise=None
        )
    assert err.value.code == "amount_required"


def test_a_frozen_payer_cannot_pay_and_nothing_is_kept(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        uid = new_user(s)
        fund(s, uid, "SOL", 10**9)
        quote_id = _quote(s, uid).id
        s.get_one(User, uid).status = UserStatus.FROZEN
    with pytest.raises(WalletError) as err, transaction(factory) as s:
        create_payment(s, uid, quote_id, "custodial", now=NOW)
    assert err.value.code == "account_frozen"
    with factory() as s:
        assert s.scalar(select(func.count(Payment.id))) == 0
        assert get_balance(s, user_wallet(uid, "SOL")).held == 0
        assert s.get_one(Quote, quote_id).status is QuoteStatus.ISSUED


def test_a_payment_to_a_signed_up_vendor_names_its_merchant(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        uid, vendor = new_user(s), new_user(s)
        fund(s, uid, "SOL", 10**9)
        merchant = Merchant(user_id=vendor, display_name="Stall", upi_vpa=VPA.lower())
        merchant.status = MerchantStatus.ACTIVE
        s.add(merchant)
        s.flush()
        merchant_id = merchant.id
        paid = create_payment(s, uid, _quote(s, uid).id, "custodial", now=NOW).id
        s.get_one(Merchant, merchant_id).status = MerchantStatus.SUSPENDED
        unpaid = create_payment(s, uid, _quote(s, uid).id, "custodial", now=NOW).id
    with factory() as s:
        assert s.get_one(Payment, paid).merchant_id == merchant_id
        assert s.get_one(Payment, unpaid).merchant_id is None  # only an active merchant


@pytest.mark.postgres
def test_the_payer_is_locked_before_the_payment_writes_anything(
    pg_factory: sessionmaker[Session],
) -> None:
    """The payer's row is locked with the quote, before the first write.

    A payment's TDS adds up under that lock, and its inserts take a key-share lock
    on the payer (the foreign keys). Taking the row lock after them, as the TDS
    step once did, let two payments of one payer in different assets each hold a
    key share and wait for the other's: a deadlock. A freeze waits for the lock too.
    """
    with transaction(pg_factory) as s:
        uid = new_user(s)
        fund(s, uid, "SOL", 10**9)
        quote_id = _quote(s, uid).id
    engine = pg_factory.kw["bind"]
    seen: list[str] = []

    def probe(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if seen or not statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            return
        seen.append(statement.split("(")[0].strip())
        with engine.connect() as other:
            try:
                other.execute(
                    text("SELECT id FROM users WHERE id = :u FOR KEY SHARE NOWAIT"), {"u": uid}
                )
                seen.append("payer free")
            except OperationalError:
                seen.append("payer locked")

    event.listen(engine, "before_cursor_execute", probe)
    try:
        with transaction(pg_factory) as s:
            create_payment(s, uid, quote_id, "custodial", now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", probe)
    assert seen == ["INSERT INTO ledger_holds", "payer locked"]


@pytest.mark.postgres
def test_one_payers_payments_in_two_assets_at_once_both_land(
    pg_factory: sessionmaker[Session],
) -> None:
    """Two payments of one payer meet after both inserted their rows: neither deadlocks."""
    with transaction(pg_factory) as s:
        uid = new_user(s)
        quotes = []
        for asset, funding in (("SOL", 10**9), ("USDC-SPL", 10**9)):
            fund(s, uid, asset, funding)
            quotes.append(
                create_quote(
                    s,
                    uid,
                    asset=asset,
                    calculate=sol_calculator(NOW, asset),
                    payee_vpa=VPA,
                    amount_paise=50_000,
                ).id
            )
    engine = pg_factory.kw["bind"]
    # Each payment waits here, after its payment row, for the other to get as far
    # (at most 2 s: a payment blocked on the payer's lock never arrives).
    meet = threading.Barrier(2, timeout=2)

    def after_insert(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT INTO payments"):
            with contextlib.suppress(threading.BrokenBarrierError):
                meet.wait()

    def pay(quote_id: str) -> str:
        with transaction(pg_factory) as s:
            return create_payment(s, uid, quote_id, "custodial", now=NOW).id

    event.listen(engine, "after_cursor_execute", after_insert)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            paid = list(pool.map(pay, quotes))
    finally:
        event.remove(engine, "after_cursor_execute", after_insert)
    with pg_factory() as s:
        statuses = [s.get_one(Payment, pid).status for pid in paid]
        assert statuses == [PaymentStatus.CONFIRMED] * 2
        check_invariants(s)
