"""Read a scanned code before quoting it (``POST /api/v1/payment-codes/parse``)."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from wallet.money import format_minor
from wallet.upi import MerchantLinkRef, UpiPaymentRequest, parse_payment_code
from webapp.api.authn import require_auth
from webapp.api.blueprint import bp
from webapp.api.schemas import ParseCodeRequest, ParsedCodeResponse
from webapp.api.spec import documented
from webapp.api.validation import parse_body
from webapp.extensions import settings


def own_hosts() -> frozenset[str]:
    """Hosts whose ``/m/<id>`` links are ours: this request's host and the configured one."""
    configured = f"{settings().web_host}:{settings().web_port}".lower()
    return frozenset({request.host.lower(), configured})


def describe(parsed: UpiPaymentRequest | MerchantLinkRef) -> ParsedCodeResponse:
    """The API view of a parsed code (shared with the scan page)."""
    if isinstance(parsed, MerchantLinkRef):
        return ParsedCodeResponse(
            kind="merchant_link",
            source="merchant_link",
            payee=None,
            amount_inr=None,
            amount_inr_minor=None,
            note=None,
            reference=None,
            merchant_code=None,
            merchant_link_id=parsed.link_id,
        )
    paise = parsed.amount_paise
    return ParsedCodeResponse.model_validate(
        {
            "kind": "upi",
            "source": parsed.source,
            "payee": {"vpa": parsed.vpa, "name": parsed.payee_name},
            "amount_inr": None if paise is None else format_minor(paise, 2),
            "amount_inr_minor": None if paise is None else str(paise),
            "note": parsed.note,
            "reference": parsed.reference,
            "merchant_code": parsed.merchant_code,
            "merchant_link_id": None,
        }
    )


@bp.post("/payment-codes/parse")
@require_auth
@documented(
    summary="Read a UPI QR, BharatQR payload or merchant link",
    request=ParseCodeRequest,
    tags=("pay",),
    description="Changes nothing. Refusals carry `upi_*` codes: `upi_invalid_uri`, "
    "`upi_missing_payee`, `upi_invalid_vpa`, `upi_invalid_amount`, `upi_amount_too_large`, "
    "`upi_unsupported_currency`, `upi_duplicate_parameter`, `upi_invalid_field`, "
    "`upi_input_too_long`, `upi_invalid_bharat_qr`, `upi_invalid_merchant_link`.",
    responses={200: (ParsedCodeResponse, "The payee and amount the code asks for.")},
)
def parse_code() -> ResponseReturnValue:
    body = parse_body(ParseCodeRequest)
    parsed = parse_payment_code(
        body.code, max_paise=settings().max_payment_paise, allowed_hosts=own_hosts()
    )
    return jsonify(describe(parsed).model_dump(mode="json"))
