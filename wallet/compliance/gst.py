"""GST tax invoices for the platform fee.

- 18 % GST (``gst_bps``) on the fee. By default the fee shown in the quote
  already includes it: taxable value = fee × 10000 / (10000 + rate),
  rounded down, so the GST (the rest) is rounded up: never under-paid.
- Place of supply: the recipient's state when known; payers are
  unregistered and we hold no address for them, so otherwise the
  supplier's own state (IGST Act s.12(2)(b)). Same state: CGST + SGST in
  halves (the odd paisa to CGST); another state: IGST.
- Numbers are ``<series>/<yyyy>/<seq>``, e.g. ``TFW/2526/000001`` — at most
  16 characters, consecutive within each financial year with no gaps
  (CGST Rules, rule 46). The number is taken from a counter row locked
  ``FOR UPDATE`` in the same transaction that inserts the invoice: if that
  transaction rolls back, so does the number.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.compliance.config import TaxConfig
from wallet.compliance.models import GstInvoice, InvoiceCounter
from wallet.compliance.periods import IST, financial_year
from wallet.db.models import User
from wallet.db.upsert import dialect_insert
from wallet.errors import InvalidAmount
from wallet.money import Rounding, divide, format_minor

BPS = 10_000
DESCRIPTION = "Platform fee: crypto-to-UPI payment service"


@dataclass(frozen=True)
class GstSplit:
    """A fee split into taxable value and tax, all in paise."""

    fee_paise: int
    taxable_paise: int
    cgst_paise: int
    sgst_paise: int
    igst_paise: int

    @property
    def gst_paise(self) -> int:
        return self.cgst_paise + self.sgst_paise + self.igst_paise


def split_fee(fee_paise: int, *, config: TaxConfig, intra_state: bool) -> GstSplit:
    """Taxable value and GST of a fee (see the module docstring for rounding)."""
    if isinstance(fee_paise, bool) or not isinstance(fee_paise, int) or fee_paise <= 0:
        raise InvalidAmount("the fee must be a positive integer number of paise")
    if config.gst_fee_inclusive:
        taxable = divide(fee_paise * BPS, BPS + config.gst_bps, Rounding.DOWN)
        gst = fee_paise - taxable
        total = fee_paise
    else:
        taxable = fee_paise
        gst = divide(fee_paise * config.gst_bps, BPS, Rounding.UP)
        total = fee_paise + gst
    if intra_state:
        cgst = divide(gst, 2, Rounding.UP)
        return GstSplit(total, taxable, cgst, gst - cgst, 0)
    return GstSplit(total, taxable, 0, 0, gst)


def _counter_row(session: Session, series: str, fy: str) -> InvoiceCounter:
    """The series' counter for ``fy``, created if new, locked for this transaction."""
    insert = dialect_insert(session)
    session.execute(
        insert(InvoiceCounter)
        .values(series=series, financial_year=fy, last_number=0)
        .on_conflict_do_nothing()
    )
    return session.scalars(
        select(InvoiceCounter)
        .where(InvoiceCounter.series == series, InvoiceCounter.financial_year == fy)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def invoice_number(series: str, fy: str, seq: int) -> str:
    """``TFW`` + ``2025-26`` + 1 → ``TFW/2526/000001``."""
    return f"{series}/{fy[2:4]}{fy[5:7]}/{seq:06d}"


def issue_fee_invoice(
    session: Session,
    *,
    payment_id: str,
    user: User,
    fee_paise: int,
    now: datetime,
    recipient_name: str | None = None,
    place_of_supply: str | None = None,
    config: TaxConfig | None = None,
) -> GstInvoice:
    """The GST invoice for one payment's platform fee; issued once per payment.

    Runs in the caller's transaction, which holds the series counter's
    lock until it ends: commit promptly.
    """
    cfg = config or TaxConfig()
    pos = place_of_supply or cfg.gst_supplier_state_code
    split = split_fee(fee_paise, config=cfg, intra_state=pos == cfg.gst_supplier_state_code)
    existing = session.scalar(select(GstInvoice).where(GstInvoice.payment_id == payment_id))
    if existing is not None:
        return existing
    fy = financial_year(now)
    counter = _counter_row(session, cfg.gst_invoice_series, fy)
    # Re-check under the lock: a concurrent issuer for this payment has committed by now.
    existing = session.scalar(
        select(GstInvoice)
        .where(GstInvoice.payment_id == payment_id)
        .execution_options(populate_existing=True)
    )
    if existing is not None:
        return existing
    counter.last_number += 1
    seq = counter.last_number
    invoice = GstInvoice(
        number=invoice_number(cfg.gst_invoice_series, fy, seq),
        series=cfg.gst_invoice_series,
        financial_year=fy,
        seq=seq,
        payment_id=payment_id,
        user_id=user.id,
        issued_at=now,
        supplier_name=cfg.gst_supplier_name,
        supplier_gstin=cfg.gst_supplier_gstin,
        supplier_address=cfg.gst_supplier_address,
        supplier_state_code=cfg.gst_supplier_state_code,
        recipient_name=recipient_name or user.email,
        recipient_email=user.email,
        place_of_supply=pos,
        sac_code=cfg.gst_sac_code,
        description=DESCRIPTION,
        fee_paise=split.fee_paise,
        taxable_paise=split.taxable_paise,
        gst_rate_bps=cfg.gst_bps,
        cgst_paise=split.cgst_paise,
        sgst_paise=split.sgst_paise,
        igst_paise=split.igst_paise,
    )
    session.add(invoice)
    session.flush()
    return invoice


def _rupees(paise: int) -> str:
    return format_minor(paise, 2)


def invoice_data(invoice: GstInvoice) -> dict[str, Any]:
    """The invoice as plain data (rupee amounts as decimal strings)."""
    rate = format_minor(invoice.gst_rate_bps, 2, trim=True)
    return {
        "number": invoice.number,
        "date": invoice.issued_at.astimezone(IST).date().isoformat(),
        "financial_year": invoice.financial_year,
        "supplier": {
            "name": invoice.supplier_name,
            "gstin": invoice.supplier_gstin,
            "address": invoice.supplier_address,
            "state_code": invoice.supplier_state_code,
        },
        "recipient": {"name": invoice.recipient_name, "email": invoice.recipient_email},
        "place_of_supply": invoice.place_of_supply,
        "payment_id": invoice.payment_id,
        "lines": [
            {
                "description": invoice.description,
                "sac": invoice.sac_code,
                "taxable_value": _rupees(invoice.taxable_paise),
            }
        ],
        "gst_rate_percent": rate,
        "cgst": _rupees(invoice.cgst_paise),
        "sgst": _rupees(invoice.sgst_paise),
        "igst": _rupees(invoice.igst_paise),
        "total": _rupees(
            invoice.taxable_paise + invoice.cgst_paise + invoice.sgst_paise + invoice.igst_paise
        ),
    }


def render_invoice_html(invoice: GstInvoice) -> str:
    """A self-contained, printable HTML page of the invoice (every value escaped)."""
    d = invoice_data(invoice)
    e = html.escape
    half = format_minor(invoice.gst_rate_bps // 2, 2, trim=True)
    tax_rows = (
        f"<tr><td>CGST @ {e(half)}%</td><td class=amt>{e(d['cgst'])}</td></tr>"
        f"<tr><td>SGST @ {e(half)}%</td><td class=amt>{e(d['sgst'])}</td></tr>"
        if invoice.igst_paise == 0
        else f"<tr><td>IGST @ {e(d['gst_rate_percent'])}%</td>"
        f"<td class=amt>{e(d['igst'])}</td></tr>"
    )
    line = d["lines"][0]
    supplier, recipient = d["supplier"], d["recipient"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Tax invoice {e(d['number'])}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
        "table{width:100%;border-collapse:collapse}td,th{border:1px solid #999;padding:.3em}"
        ".amt{text-align:right}</style></head><body>"
        "<h1>Tax invoice</h1>"
        f"<p>Invoice number: <strong>{e(d['number'])}</strong><br>Date: {e(d['date'])}</p>"
        f"<p><strong>{e(supplier['name'])}</strong><br>{e(supplier['address'])}<br>"
        f"GSTIN: {e(supplier['gstin'])} (state code {e(supplier['state_code'])})</p>"
        f"<p>Bill to: {e(recipient['name'])} &lt;{e(recipient['email'])}&gt;<br>"
        f"Place of supply: state code {e(d['place_of_supply'])}<br>"
        f"Payment: {e(d['payment_id'])}</p>"
        "<table><tr><th>Description</th><th>SAC</th><th class=amt>Taxable value (INR)</th></tr>"
        f"<tr><td>{e(line['description'])}</td><td>{e(line['sac'])}</td>"
        f"<td class=amt>{e(line['taxable_value'])}</td></tr></table>"
        f"<table>{tax_rows}"
        f"<tr><th>Total (INR)</th><th class=amt>{e(d['total'])}</th></tr></table>"
        "</body></html>"
    )
