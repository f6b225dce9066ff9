"""IMPS fallback: pay the merchant's bank account when UPI refuses its VPA.

Issue 6, "Failover": when a UPI payout is rejected or failed for the VPA
and the merchant has a bank account on file, the next attempt is an IMPS
payout (RazorpayX "Payouts" with ``mode=IMPS`` to a ``bank_account``
fund account) instead of another UPI try at a VPA that will not take it.

- A VPA refusal is a UPI attempt whose payout was rejected at creation
  with ``invalid_vpa`` (recorded by settlement as ``invalid_vpa: …``) or
  ``failed`` at the beneficiary's bank.
- The switch UPI → IMPS is always allowed once, even when the UPI tries
  used up ``max_payout_attempts`` (it is a different route, not a retry);
  later IMPS failures retry IMPS within the cap, then hold for review.
- The account number is sealed at rest and never logged: registration
  creates the RazorpayX contact and fund account once, and settlement pays
  the stored ``fund_account_id``. Logs and audit rows carry the last four
  digits only.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.custody.kms import KeyManager
from wallet.db.models.payments import Payment
from wallet.db.models.settlement import MerchantBankAccount, Payout, PayoutStatus
from wallet.errors import WalletError
from wallet.merchants.sealed import seal
from wallet.payouts.razorpayx import Contact, FundAccount

log = logging.getLogger(__name__)

IFSC_RE = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
ACCOUNT_RE = re.compile(r"^[0-9]{9,18}$")
INVALID_VPA_PREFIX = "invalid_vpa"


class InvalidBankAccount(WalletError):
    code = "invalid_bank_account"
    http_status = 422


class BankAccountGateway(Protocol):
    """The RazorpayX calls registration needs (both deduplicated by RazorpayX)."""

    def create_contact(
        self,
        name: str,
        *,
        contact_type: str = "vendor",
        reference_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> Contact: ...

    def create_fund_account_bank(
        self, contact_id: str, *, name: str, ifsc: str, account_number: str
    ) -> FundAccount: ...


def sealing_context(merchant_id: int) -> str:
    return f"merchant-bank-account:{merchant_id}"


def mask(account_number: str) -> str:
    """What logs and screens may show of an account number."""
    return "XXXX" + account_number[-4:]


def register_bank_account(
    session: Session,
    kms: KeyManager,
    gateway: BankAccountGateway,
    merchant_id: int,
    *,
    holder_name: str,
    ifsc: str,
    account_number: str,
) -> MerchantBankAccount:
    """Put (or replace) the merchant's bank account on file, with its RazorpayX fund account.

    Raises ``invalid_bank_account`` for a malformed IFSC, number or name
    before anything is called or stored.
    """
    ifsc = ifsc.strip().upper()
    number = account_number.strip()
    name = " ".join(holder_name.split())
    if not IFSC_RE.match(ifsc):
        raise InvalidBankAccount("the IFSC must look like ABCD0123456")
    if not ACCOUNT_RE.match(number):
        raise InvalidBankAccount("the account number must be 9 to 18 digits")
    if not 3 <= len(name) <= 120:
        raise InvalidBankAccount("the account holder's name is required")
    contact = gateway.create_contact(name, reference_id=f"merchant:{merchant_id}")
    fund = gateway.create_fund_account_bank(contact.id, name=name, ifsc=ifsc, account_number=number)
    row = session.scalars(
        select(MerchantBankAccount).where(MerchantBankAccount.merchant_id == merchant_id)
    ).one_or_none()
    if row is None:
        row = MerchantBankAccount(merchant_id=merchant_id)
        session.add(row)
    row.holder_name = name
    row.ifsc = ifsc
    row.account_number_sealed = seal(kms, number, sealing_context(merchant_id))
    row.account_last4 = number[-4:]
    row.fund_account_id = fund.id
    session.flush()
    record(
        session,
        actor=f"merchant:{merchant_id}",
        action="merchant.bank_account",
        subject_type="merchant",
        subject_id=str(merchant_id),
        data={"ifsc": ifsc, "account": mask(number), "fund_account_id": fund.id},
    )
    log.info("bank account %s on file for merchant %s", mask(number), merchant_id)
    return row


def refused_for_vpa(payout: Payout) -> bool:
    """Whether a UPI payout ended because the VPA would not take it."""
    if payout.bank_account_id is not None:
        return False
    if payout.status is PayoutStatus.FAILED:
        return True
    return payout.status is PayoutStatus.REJECTED and (payout.failure_reason or "").startswith(
        INVALID_VPA_PREFIX
    )


def fallback_account(
    session: Session, payment: Payment, last: Payout | None
) -> MerchantBankAccount | None:
    """The bank account the next attempt should pay, or None to stay on UPI.

    Sticky: once a payment has gone to IMPS, its retries stay on IMPS.
    """
    if last is None or payment.merchant_id is None:
        return None
    if last.bank_account_id is None and not refused_for_vpa(last):
        return None
    account = session.scalars(
        select(MerchantBankAccount).where(MerchantBankAccount.merchant_id == payment.merchant_id)
    ).one_or_none()
    if account is None or account.fund_account_id is None:
        return None
    return account
