"""Coins in and out (issue 7, REST API): deposit addresses and withdrawals.

``GET /wallet/deposit-address`` hands the caller their own address on the
asset's chain (derived from public keys) with a payment link.
``POST /withdrawals`` holds the amount and queues the send for custody's
signer; ``Idempotency-Key`` makes a retry hold once.
"""

from __future__ import annotations

from flask import abort, jsonify, request
from flask.typing import ResponseReturnValue

from wallet.custody.models import Withdrawal, WithdrawalStatus
from webapp.api.authn import api_user, require_auth
from webapp.api.blueprint import bp
from webapp.api.idempotency import HEADER, idempotent
from webapp.api.spec import documented
from webapp.api.validation import parse_body
from webapp.device import device_header, header_device_id
from webapp.pay import custody, withdrawals
from webapp.pay.schemas import (
    DepositAddressOut,
    WithdrawalOut,
    WithdrawalRequestBody,
    crypto,
)
from webapp.ratelimit import limited


def withdrawal_out(row: Withdrawal) -> WithdrawalOut:
    return WithdrawalOut(
        id=row.id,
        status=row.status.value,
        status_text=withdrawals.STATUS_TEXT[row.status],
        asset=row.asset,
        chain=row.chain,
        address=row.to_address,
        amount=crypto(row.asset, row.amount_minor),
        amount_minor=str(row.amount_minor),
        txid=row.txid,
        created_at=row.created_at,
    )


@bp.get("/wallet/deposit-address")
@require_auth
@documented(
    summary="Your deposit address for an asset, with a payment link",
    tags=("wallet",),
    query={"asset": {"required": True, "schema": {"type": "string"}, "example": "SOL"}},
    description="The same address every time for one chain (ERC-20s share ETH's). "
    "`unknown_asset` for anything the wallet does not hold.",
    responses={200: (DepositAddressOut, "Send coins here to top up your balance.")},
)
def payer_deposit_address() -> ResponseReturnValue:
    asset = request.args.get("asset", "")
    if not asset:
        abort(400, description="asset is required, e.g. ?asset=SOL")
    found = custody.deposit_address(api_user().id, asset)
    out = DepositAddressOut(
        asset=found.asset, chain=found.chain, address=found.address, uri=found.uri
    )
    return jsonify(out.model_dump(mode="json"))


@bp.post("/withdrawals")
@require_auth
@limited("api")
@device_header
@idempotent
@documented(
    summary="Send coins from your balance to an external address",
    request=WithdrawalRequestBody,
    tags=("wallet",),
    idempotent=True,
    description="The amount is held at once and sent by the custody signer. A withdrawal the "
    "risk checks want an admin to see first is accepted with 202 and status "
    "`held_for_review` (under review: the coins stay held until it is sent or rejected). "
    "Refusals change nothing: `invalid_address` (bad address or checksum for the chain), "
    "`invalid_amount`, `unknown_asset`, `invalid_device_id`, `insufficient_funds` (409), "
    "`account_frozen` (403), a risk limit's code (403).",
    responses={
        201: (WithdrawalOut, "The withdrawal, `held` until broadcast."),
        202: (WithdrawalOut, "Accepted for review: `held_for_review`, the coins held."),
    },
)
def payer_create_withdrawal() -> ResponseReturnValue:
    body = parse_body(WithdrawalRequestBody)
    user_id = api_user().id
    minor = withdrawals.parse_amount(body.asset, body.amount)
    key = withdrawals.withdrawal_key(user_id, request.headers.get(HEADER))
    row = withdrawals.request_withdrawal(
        user_id, body.asset, body.address, minor, key, device_id=header_device_id()
    )
    parked = row.status is WithdrawalStatus.HELD_FOR_REVIEW
    return jsonify(withdrawal_out(row).model_dump(mode="json")), 202 if parked else 201


@bp.get("/withdrawals/<int:withdrawal_id>")
@require_auth
@documented(
    summary="One of your withdrawals",
    tags=("wallet",),
    responses={
        200: (WithdrawalOut, "Its status and, once broadcast, the transaction id."),
        404: (None, "No such withdrawal of yours (`not_found`)."),
    },
)
def payer_get_withdrawal(withdrawal_id: int) -> ResponseReturnValue:
    row = withdrawals.get_withdrawal(api_user().id, withdrawal_id)
    if row is None:
        abort(404, description="no such withdrawal")
    return jsonify(withdrawal_out(row).model_dump(mode="json"))
