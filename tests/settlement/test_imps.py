"""IMPS fallback against the RazorpayX stand-in: a VPA UPI refuses is paid by IMPS to the
merchant's bank account on file, exactly once; without one the payment is held."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import custodial_payment, deps_for, new_user
from wallet.custody.kms import LocalKeyManager
from wallet.db.models import Merchant, Payout, PayoutStatus
from wallet.db.models.settlement import MerchantBankAccount
from wallet.db.models.users import MerchantStatus
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance
from wallet.merchants.sealed import unseal
from wallet.settlement.imps import InvalidBankAccount, register_bank_account, sealing_context
from wallet.settlement.service import settle_pass

ACCOUNT = "50100012345678"
KMS = LocalKeyManager(os.urandom(32))


def _merchant(factory: sessionmaker[Session], vpa: str) -> int:
    with transaction(factory) as s:
        merchant = Merchant(
            user_id=new_user(s), display_name="Ravi Stores", upi_vpa=vpa,
            status=MerchantStatus.ACTIVE,
        )  # fmt: skip
        s.add(merchant)
        s.flush()
        return merchant.id


def _bank_account(factory: sessionmaker[Session], deps: Any, merchant_id: int) -> None:
    with transaction(factory) as s:
        register_bank_account(
            s, KMS, deps.payouts, merchant_id,
            holder_name="Ravi Kumar", ifsc="hdfc0001234", account_number=ACCOUNT,
        )  # fmt: skip


def _local(factory: sessionmaker[Session], pid: str) -> list[Payout]:
    with factory() as s:
        return list(s.scalars(select(Payout).where(Payout.payment_id == pid).order_by(Payout.id)))


@pytest.mark.parametrize("suffix", ["invalid", "fail"])
def test_refused_vpa_is_paid_by_imps_to_the_bank_account_on_file(
    factory: sessionmaker[Session],
    rzp: dict[str, Any],
    venues: dict[str, Any],
    suffix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vpa = f"shop{uuid.uuid4().hex[:6]}{suffix}@okaxis"
    deps = deps_for(factory, rzp, venues, max_payout_attempts=1)
    merchant_id = _merchant(factory, vpa)
    with caplog.at_level(logging.DEBUG):
        _bank_account(factory, deps, merchant_id)
    assert ACCOUNT not in caplog.text  # masked in logs
    pid = custodial_payment(factory, vpa=vpa, inr_paise=50_000)

    report = settle_pass(deps, [pid])

    assert report.statuses == {pid: "completed"}
    remote = deps.payouts.find_payouts(pid)
    processed = [p for p in remote if p.status.value == "processed"]
    assert [(p.mode, p.amount_paise) for p in processed] == [("IMPS", 50_000)]
    # "invalid" is refused at creation (nothing at RazorpayX); "fail" failed at the bank.
    assert len(remote) == (1 if suffix == "invalid" else 2)
    upi, imps = _local(factory, pid)
    assert upi.bank_account_id is None and upi.status in (
        PayoutStatus.REJECTED,
        PayoutStatus.FAILED,
    )
    assert imps.bank_account_id is not None and imps.status is PayoutStatus.PROCESSED
    assert imps.provider_payout_id == processed[0].id
    with factory() as s:
        assert get_balance(s, "float:INR").balance == -50_000  # one payout paid
        check_invariants(s)

    settle_pass(deps, [pid])  # a rerun sends nothing more
    assert len(deps.payouts.find_payouts(pid)) == len(remote)
    assert len(_local(factory, pid)) == 2


def test_the_account_number_is_sealed_at_rest(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    deps = deps_for(factory, rzp, venues)
    merchant_id = _merchant(factory, f"shop{uuid.uuid4().hex[:6]}@okaxis")
    _bank_account(factory, deps, merchant_id)
    with factory() as s:
        row = s.scalars(
            select(MerchantBankAccount).where(MerchantBankAccount.merchant_id == merchant_id)
        ).one()
        assert ACCOUNT not in row.account_number_sealed
        assert row.account_last4 == "5678" and row.ifsc == "HDFC0001234"
        assert row.fund_account_id
        opened = unseal(KMS, row.account_number_sealed, sealing_context(merchant_id))
        assert opened.reveal().decode() == ACCOUNT


def test_without_a_bank_account_a_refused_vpa_is_held(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    vpa = f"shop{uuid.uuid4().hex[:6]}invalid@okaxis"
    _merchant(factory, vpa)
    deps = deps_for(factory, rzp, venues, max_payout_attempts=1)
    pid = custodial_payment(factory, vpa=vpa)
    assert settle_pass(deps, [pid], sell=False).statuses == {pid: "held_for_review"}
    assert deps.payouts.find_payouts(pid) == []


@pytest.mark.parametrize(
    ("ifsc", "number"), [("HDFC1234", ACCOUNT), ("HDFC0001234", "12-34"), ("HDFC0001234", "123")]
)
def test_a_malformed_bank_account_is_refused_and_nothing_is_stored(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: dict[str, Any], ifsc: str,
    number: str,
) -> None:  # fmt: skip
    deps = deps_for(factory, rzp, venues)
    merchant_id = _merchant(factory, f"shop{uuid.uuid4().hex[:6]}@okaxis")
    with pytest.raises(InvalidBankAccount) as info, transaction(factory) as s:
        register_bank_account(
            s, KMS, deps.payouts, merchant_id, holder_name="Ravi", ifsc=ifsc, account_number=number
        )
    assert info.value.code == "invalid_bank_account"
    with factory() as s:
        assert s.scalar(select(func.count(MerchantBankAccount.id))) == 0
