"""Payments: list with filters and search, detail with timeline and payout,
CSV export, and the soundbox feed (issue 8, "Payments", "Soundbox")."""

from __future__ import annotations

from flask import Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from wallet.assets import CRYPTO_ASSETS
from wallet.db.base import utcnow
from wallet.errors import WalletError
from wallet.merchants import analytics, queries
from wallet.merchants.queries import IST, PaymentFilters
from wallet.payments.states import PaymentStatus
from webapp.extensions import unit_of_work
from webapp.merchant.common import bp, current_merchant, merchant_required

PAGE = 50
FEED_LIMIT = 20


def _filters() -> tuple[PaymentFilters, str | None]:
    try:
        return PaymentFilters.parse(request.args), None
    except WalletError as exc:
        return PaymentFilters(), exc.message


@bp.get("/payments")
@merchant_required
def payments() -> ResponseReturnValue:
    """The merchant's payments, newest first, filtered by date, status, asset or search."""
    merchant = current_merchant()
    filters, error = _filters()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    with unit_of_work() as db:
        rows = queries.list_payments(
            db, merchant.id, filters, limit=PAGE + 1, offset=(page - 1) * PAGE
        )
        payouts = queries.payouts_for(db, [p.id for p in rows])
    return render_template(
        "merchant/payments.html",
        rows=rows[:PAGE],
        payouts=payouts,
        filters=filters,
        args=filters.as_args(),
        error=error,
        page=page,
        more=len(rows) > PAGE,
        statuses=list(PaymentStatus),
        assets=CRYPTO_ASSETS,
        rupees=analytics.rupees,
        ist=IST,
    ), (400 if error else 200)


@bp.get("/payments.csv")
@merchant_required
def payments_csv() -> ResponseReturnValue:
    """The filtered payments as CSV (up to 10,000 rows)."""
    merchant = current_merchant()
    filters = PaymentFilters.parse(request.args)
    with unit_of_work() as db:
        body = queries.export_csv(db, merchant.id, filters)
    name = f"payments-{utcnow().astimezone(IST):%Y%m%d-%H%M}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/payments/<payment_id>")
@merchant_required
def payment(payment_id: str) -> ResponseReturnValue:
    """One payment: amounts, timeline and settlement (payout status, UTR)."""
    merchant = current_merchant()
    with unit_of_work() as db:
        detail = queries.payment_detail(db, payment_id, merchant.id)
    return render_template("merchant/payment.html", d=detail, rupees=analytics.rupees, ist=IST)


@bp.get("/soundbox")
@merchant_required
def soundbox() -> ResponseReturnValue:
    """Announces each arriving payment aloud (English or Hindi) in the browser."""
    merchant = current_merchant()
    with unit_of_work() as db:
        cursor = queries.latest_event_id(db, merchant.id)
    return render_template("merchant/soundbox.html", cursor=cursor, merchant=merchant)


@bp.get("/soundbox/feed")
@merchant_required
def soundbox_feed() -> ResponseReturnValue:
    """Arrivals after event ``after`` (JSON, polled by soundbox.js)."""
    merchant = current_merchant()
    after = request.args.get("after", type=int)
    with unit_of_work() as db:
        if after is None:
            return jsonify({"cursor": queries.latest_event_id(db, merchant.id), "payments": []})
        items = queries.announcements(db, merchant.id, max(0, after), limit=FEED_LIMIT)
        latest = queries.latest_event_id(db, merchant.id)
    # A full page may leave arrivals unread: resume after the last one given.
    cursor = items[-1].event_id if len(items) >= FEED_LIMIT else max(after, latest)
    return jsonify(
        {
            "cursor": cursor,
            "payments": [
                {
                    "payment_id": a.payment_id,
                    "amount_inr_minor": str(a.amount_paise),
                    "rupees": str(a.amount_paise // 100)
                    if a.amount_paise % 100 == 0
                    else f"{a.amount_paise // 100}.{a.amount_paise % 100:02d}",
                    "at": a.at.isoformat(),
                }
                for a in items
            ],
        }
    )
