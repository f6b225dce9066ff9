"""Quotes over the API (issue 7, REST API: ``POST /api/v1/quotes``).

A quote locks the price of one payment in one asset for a short time; it
moves no money. Pricing refusals carry the rates layer's codes:
``rate_stale`` (no fresh rate or order books) and ``asset_paused`` (503:
try again shortly or pick another coin), ``insufficient_liquidity`` (422:
too large for the books). Pricing reads only caches that the Dagster
sensors refresh, never the venues.
"""

from __future__ import annotations

from flask import abort, jsonify
from flask.typing import ResponseReturnValue

from webapp.api.authn import api_user, require_auth
from webapp.api.blueprint import bp
from webapp.api.spec import documented
from webapp.api.validation import parse_body
from webapp.pay import service
from webapp.pay.schemas import QuoteOut, QuoteRequestBody, quote_out
from webapp.ratelimit import limited


@bp.post("/quotes")
@require_auth
@limited("api")
@documented(
    summary="Price a scanned code in one asset",
    request=QuoteRequestBody,
    tags=("pay",),
    description="Send exactly one of `upi_uri` (a `upi://pay` URI or BharatQR payload) and "
    "`merchant_link`. `amount_inr` is required when the code has no amount "
    "(`amount_required`) and must match it when it has one (`amount_fixed_by_code`). "
    "Code refusals carry `upi_*` codes; unknown assets `unknown_asset`; amounts outside "
    "the limits `invalid_amount`.",
    responses={
        201: (QuoteOut, "The locked price, valid until `expires_at`."),
        404: (None, "The merchant link does not exist (`merchant_link_not_found`)."),
        422: (None, "The books cannot absorb this size (`insufficient_liquidity`)."),
        503: (
            None,
            "No fresh rate or order books (`rate_stale`) or the asset is paused (`asset_paused`).",
        ),
    },
)
def payer_create_quote() -> ResponseReturnValue:
    body = parse_body(QuoteRequestBody)
    payee = service.resolve_code(body.upi_uri or body.merchant_link or "")
    paise = service.amount_for(payee, body.amount_inr)
    quote = service.new_quote(api_user().id, payee, paise, body.asset)
    return jsonify(quote_out(quote).model_dump(mode="json")), 201


@bp.get("/quotes/<quote_id>")
@require_auth
@documented(
    summary="One of your quotes",
    tags=("pay",),
    responses={
        200: (QuoteOut, "The quote and the seconds it has left."),
        404: (None, "No such quote of yours (`not_found`)."),
    },
)
def payer_get_quote(quote_id: str) -> ResponseReturnValue:
    quote = service.get_quote(api_user().id, quote_id)
    if quote is None:
        abort(404, description="no such quote")
    return jsonify(quote_out(quote).model_dump(mode="json"))
