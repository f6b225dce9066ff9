"""Payments over the API (issue 7, REST API: ``/api/v1/payments``).

``POST`` opens the payment for a quote (``Idempotency-Key`` honoured,
Stripe's semantics); a custodial payment holds the coins at once and its
settlement is requested right away, an external one answers with the
address and link to pay. Reads return only the caller's own payments:
another user's id answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from flask import abort, jsonify, request
from flask.typing import ResponseReturnValue

from webapp.api.authn import api_user, require_auth
from webapp.api.blueprint import bp
from webapp.api.idempotency import idempotent
from webapp.api.spec import documented
from webapp.api.validation import parse_body
from webapp.device import device_header, header_device_id
from webapp.pay import service
from webapp.pay.schemas import (
    PaymentList,
    PaymentOut,
    PaymentRequestBody,
    payment_out,
    payment_summary,
)
from webapp.ratelimit import limited

_LIST_QUERY = {
    "limit": {
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": service.MAX_PAGE, "default": 20},
    },
    "cursor": {
        "required": False,
        "description": "`next_cursor` of the previous page.",
        "schema": {"type": "string"},
    },
    "status": {
        "required": False,
        "description": "A payment status, or a group: `active`, `paid`, `problem`.",
        "schema": {"type": "string"},
    },
    "asset": {"required": False, "schema": {"type": "string"}},
}


def _detail_or_404(payment_id: str) -> service.PaymentDetail:
    detail = service.payment_detail(api_user().id, payment_id)
    if detail is None:
        abort(404, description="no such payment")
    return detail


@bp.post("/payments")
@require_auth
@limited("api")
@device_header
@idempotent
@documented(
    summary="Pay a quote",
    request=PaymentRequestBody,
    tags=("pay",),
    idempotent=True,
    description="Refusals, each changing nothing: `quote_not_found` (404), `quote_expired` "
    "(409, request a new quote), `insufficient_funds` (409, custodial), `payment_conflict` "
    "(409, the quote was paid from the other source), `account_frozen` (403). Paying the "
    "same quote again returns the first payment with 200. A malformed `X-Device-Id` is "
    "refused first with 400 `invalid_device_id`.",
    responses={
        200: (PaymentOut, "This quote was already paid: the existing payment."),
        201: (PaymentOut, "The payment (external: with `pay_to`)."),
        404: (None, "No such quote of yours (`quote_not_found`)."),
    },
)
def payer_create_payment() -> ResponseReturnValue:
    body = parse_body(PaymentRequestBody)
    detail, created = service.pay_with_detail(
        api_user().id, body.quote_id, body.source, device_id=header_device_id()
    )
    return jsonify(payment_out(detail).model_dump(mode="json")), 201 if created else 200


@bp.get("/payments/<payment_id>")
@require_auth
@documented(
    summary="One of your payments, with its timeline and the vendor's payout",
    tags=("pay",),
    responses={
        200: (PaymentOut, "The payment; `vendor_paid` turns true with the payout's UTR."),
        404: (None, "No such payment of yours (`not_found`)."),
    },
)
def payer_get_payment(payment_id: str) -> ResponseReturnValue:
    return jsonify(payment_out(_detail_or_404(payment_id)).model_dump(mode="json"))


@bp.get("/payments")
@require_auth
@documented(
    summary="Your payments, newest first",
    tags=("pay",),
    query=_LIST_QUERY,
    description="Keyset pagination: follow `next_cursor` until it is null. Bad filters "
    "answer 400 `invalid_filter`, `unknown_asset` or `invalid_cursor`.",
    responses={200: (PaymentList, "One page of your payments.")},
)
def payer_list_payments() -> ResponseReturnValue:
    raw_limit = request.args.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= service.MAX_PAGE:
        abort(400, description=f"limit must be an integer from 1 to {service.MAX_PAGE}")
    rows, next_cursor = service.list_payments(
        api_user().id,
        limit=int(raw_limit),
        cursor=request.args.get("cursor") or None,
        status=request.args.get("status") or None,
        asset=request.args.get("asset") or None,
    )
    out = PaymentList(payments=[payment_summary(p) for p in rows], next_cursor=next_cursor)
    return jsonify(out.model_dump(mode="json"))
