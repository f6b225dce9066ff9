"""API bodies of the payer flow, and the presenters that fill them.

Amounts are decimal strings plus ``*_minor`` integer strings (paise for
INR, the asset's smallest unit otherwise); never JSON numbers with
fractions. The same presenters feed the PWA pages, so a page and the API
never disagree about a payment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wallet.assets import get_asset
from wallet.db.models.payments import Payment, PaymentSource, Quote
from wallet.money import format_minor
from webapp.pay import custody
from webapp.pay.service import PaymentDetail, seconds_left


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=4096)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


def inr(paise: int) -> str:
    return format_minor(paise, 2)


def crypto(asset: str, minor: int) -> str:
    return format_minor(minor, get_asset(asset).decimals, trim=True)


# --- quotes ----------------------------------------------------------------------


class QuoteRequestBody(_Request):
    upi_uri: str | None = Field(
        default=None,
        max_length=2048,
        description="What the scanner read: a `upi://pay` URI or a BharatQR payload.",
        examples=["upi://pay?pa=chai.stall@okaxis&pn=Chai%20Stall&am=30"],
    )
    merchant_link: str | None = Field(
        default=None,
        max_length=2048,
        description="One of our merchants' dynamic-QR links, `https://<host>/m/<id>`.",
    )
    amount_inr: str | None = Field(
        default=None,
        max_length=16,
        description="Rupees (at most 2 decimals), required when the code carries no amount; "
        "if the code fixes the amount this must equal it.",
        examples=["30.00"],
    )
    asset: str = Field(min_length=1, max_length=32, examples=["SOL"])

    @model_validator(mode="after")
    def _one_code(self) -> QuoteRequestBody:
        if (self.upi_uri is None) == (self.merchant_link is None):
            raise ValueError("send exactly one of upi_uri and merchant_link")
        return self


class PayeeOut(_Response):
    vpa: str
    name: str | None


class FeesOut(_Response):
    platform_inr: str
    platform_inr_minor: str
    network_inr: str
    network_inr_minor: str
    buffer_inr: str = Field(description="Volatility buffer of the asset's class.")
    buffer_inr_minor: str
    tds_inr: str
    tds_inr_minor: str
    total_inr: str = Field(description="All fees together.")
    total_inr_minor: str


class QuoteOut(_Response):
    id: str
    asset: str
    amount: str = Field(description="What the payer sends, all fees included.", examples=["0.0021"])
    amount_minor: str = Field(examples=["2100000"])
    amount_inr: str = Field(description="What the vendor receives.", examples=["30.00"])
    amount_inr_minor: str = Field(examples=["3000"])
    rate_inr: str = Field(description="₹ per whole coin, all-in.", examples=["14285.71"])
    fees: FeesOut
    payee: PayeeOut
    status: str = Field(description="issued | accepted | expired")
    expires_at: datetime
    expires_in: int = Field(description="Whole seconds left, by the server's clock.")


def _fee(fees: dict[str, Any], name: str) -> int:
    return int(fees.get(f"{name}_paise", 0))


def fees_out(fees: dict[str, Any]) -> FeesOut:
    parts = {n: _fee(fees, n) for n in ("platform", "network", "buffer", "tds")}
    total = sum(parts.values())
    values: dict[str, str] = {"total_inr": inr(total), "total_inr_minor": str(total)}
    for name, paise in parts.items():
        values[f"{name}_inr"] = inr(paise)
        values[f"{name}_inr_minor"] = str(paise)
    return FeesOut(**values)


def quote_out(quote: Quote) -> QuoteOut:
    return QuoteOut(
        id=quote.id,
        asset=quote.asset,
        amount=crypto(quote.asset, quote.amount_minor),
        amount_minor=str(quote.amount_minor),
        amount_inr=inr(quote.amount_inr_paise),
        amount_inr_minor=str(quote.amount_inr_paise),
        rate_inr=quote.rate,
        fees=fees_out(quote.fees),
        payee=PayeeOut(vpa=quote.payee_vpa, name=quote.payee_name),
        status=quote.status.value,
        expires_at=quote.expires_at,
        expires_in=seconds_left(quote),
    )


# --- payments --------------------------------------------------------------------


class PaymentRequestBody(_Request):
    quote_id: str = Field(min_length=1, max_length=64)
    source: Literal["custodial", "external"] = Field(
        default="custodial",
        description="`custodial`: from your platform balance (held at once); `external`: "
        "from your own wallet to the returned address.",
    )


class TimelineStep(_Response):
    status: str
    at: datetime


class PayoutOut(_Response):
    status: str = Field(
        description="not_started | created | pending | queued | processing | processed | "
        "reversed | cancelled | rejected | failed | unknown"
    )
    utr: str | None = Field(description="The bank reference the vendor sees, once processed.")


class PayToOut(_Response):
    address: str
    uri: str = Field(description="EIP-681, Solana Pay or BIP21 link with the exact amount.")
    amount: str
    amount_minor: str


class TransactionOut(_Response):
    chain: str
    txid: str
    url: str | None = Field(description="Block explorer link (mainnet only).")


class PaymentOut(_Response):
    id: str
    status: str
    vendor_paid: bool = Field(description="True once the vendor's payout went through.")
    source: str
    asset: str
    amount: str
    amount_minor: str
    amount_inr: str
    amount_inr_minor: str
    rate_inr: str
    fees: FeesOut
    payee: PayeeOut
    quote_id: str
    created_at: datetime
    timeline: list[TimelineStep]
    payout: PayoutOut
    pay_to: PayToOut | None = Field(description="External payments: where to send the coins.")
    transactions: list[TransactionOut]


class PaymentSummary(_Response):
    id: str
    status: str
    asset: str
    amount: str
    amount_minor: str
    amount_inr: str
    amount_inr_minor: str
    payee: PayeeOut
    created_at: datetime


class PaymentList(_Response):
    payments: list[PaymentSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


def payment_out(detail: PaymentDetail) -> PaymentOut:
    p, q = detail.payment, detail.quote
    pay_to = None
    if p.source is PaymentSource.EXTERNAL and p.deposit_address:
        pay_to = PayToOut(
            address=p.deposit_address,
            uri=custody.payment_uri(p.asset, p.deposit_address, p.amount_minor),
            amount=crypto(p.asset, p.amount_minor),
            amount_minor=str(p.amount_minor),
        )
    payout = detail.payout
    return PaymentOut(
        id=p.id,
        status=p.status.value,
        vendor_paid=detail.vendor_paid,
        source=p.source.value,
        asset=p.asset,
        amount=crypto(p.asset, p.amount_minor),
        amount_minor=str(p.amount_minor),
        amount_inr=inr(p.amount_inr_paise),
        amount_inr_minor=str(p.amount_inr_paise),
        rate_inr=q.rate,
        fees=fees_out(q.fees),
        payee=PayeeOut(vpa=p.payee_vpa, name=p.payee_name),
        quote_id=p.quote_id,
        created_at=p.created_at,
        timeline=[TimelineStep(status=e.to_status.value, at=e.at) for e in detail.events],
        payout=PayoutOut(
            status=payout.status.value if payout else "not_started",
            utr=payout.utr if payout else None,
        ),
        pay_to=pay_to,
        transactions=[
            TransactionOut(chain=c.chain, txid=c.txid, url=custody.explorer_url(c.chain, c.txid))
            for c in detail.credits
        ],
    )


def payment_summary(p: Payment) -> PaymentSummary:
    return PaymentSummary(
        id=p.id,
        status=p.status.value,
        asset=p.asset,
        amount=crypto(p.asset, p.amount_minor),
        amount_minor=str(p.amount_minor),
        amount_inr=inr(p.amount_inr_paise),
        amount_inr_minor=str(p.amount_inr_paise),
        payee=PayeeOut(vpa=p.payee_vpa, name=p.payee_name),
        created_at=p.created_at,
    )


# --- wallet and withdrawals ---------------------------------------------------------


class DepositAddressOut(_Response):
    asset: str
    chain: str
    address: str
    uri: str = Field(description="A payment link without amount, for the payer's other wallet.")


class WithdrawalRequestBody(_Request):
    asset: str = Field(min_length=1, max_length=32, examples=["SOL"])
    address: str = Field(min_length=1, max_length=128)
    amount: str = Field(
        min_length=1,
        max_length=80,
        description="Decimal string in the asset's unit (at most its decimals).",
        examples=["0.5"],
    )


class WithdrawalOut(_Response):
    id: int
    status: str = Field(
        description="held (queued to send) | held_for_review (under review: the coins are "
        "held until an admin decides) | broadcast | posted | failed | rejected (not sent "
        "after review; the coins are back on the balance)"
    )
    status_text: str = Field(description="The status in words, e.g. `under review`.")
    asset: str
    chain: str
    address: str
    amount: str
    amount_minor: str
    txid: str | None
    created_at: datetime
