"""The caller's incoming deposits (issue 7, "Receive": ``GET /api/v1/wallet/deposits``).

Pending while the chain has shown the transfer but custody has not credited
it, then credited (or reversed after a reorg); see
:mod:`wallet.custody.deposits_view`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import abort, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from wallet.assets import CRYPTO_ASSETS, get_asset
from wallet.custody.deposits_view import MAX_LIMIT, DepositView, recent_deposits
from wallet.errors import UnknownAsset
from wallet.money import format_minor
from webapp.api.authn import api_user, require_auth
from webapp.api.blueprint import bp
from webapp.api.spec import documented
from webapp.extensions import unit_of_work


class DepositOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset: str
    chain: str
    txid: str
    idx: int
    status: Literal["pending", "credited", "reversed"]
    amount: str = Field(description="Decimal string in whole coins, e.g. `1.5`.")
    amount_minor: str = Field(description="The same amount in the asset's minor units.")
    seen_at: datetime = Field(description="When the transfer was first seen on chain.")
    credited_at: datetime | None


class DepositList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deposits: list[DepositOut]


def deposit_out(row: DepositView) -> DepositOut:
    return DepositOut(
        asset=row.asset,
        chain=row.chain,
        txid=row.txid,
        idx=row.idx,
        status=row.status.value,
        amount=format_minor(row.amount_minor, get_asset(row.asset).decimals, trim=True),
        amount_minor=str(row.amount_minor),
        seen_at=row.seen_at,
        credited_at=row.credited_at,
    )


@bp.get("/wallet/deposits")
@require_auth
@documented(
    summary="Your recent deposits: pending, then credited",
    tags=("wallet",),
    query={
        "asset": {"required": False, "schema": {"type": "string"}, "example": "SOL"},
        "limit": {
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        },
    },
    description="Transfers to your own deposit addresses, newest first. `pending` until "
    "custody credits them (enough confirmations), then `credited`; `reversed` if the "
    "block left the chain after crediting. `unknown_asset` for an asset the wallet "
    "does not hold.",
    responses={200: (DepositList, "Up to `limit` (default 20) deposits.")},
)
def payer_list_deposits() -> ResponseReturnValue:
    user_id = api_user().id
    asset = request.args.get("asset") or None
    if asset is not None and asset not in CRYPTO_ASSETS:
        raise UnknownAsset(f"unknown asset {asset!r}")  # 400 before any query
    raw_limit = request.args.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        abort(400, description=f"limit must be an integer from 1 to {MAX_LIMIT}")
    with unit_of_work() as session:
        rows = recent_deposits(session, user_id, asset, int(raw_limit))
    out = DepositList(deposits=[deposit_out(r) for r in rows])
    return jsonify(out.model_dump(mode="json"))
