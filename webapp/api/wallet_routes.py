"""The caller's balances (issue 7, REST API: ``GET /api/v1/wallet``)."""

from __future__ import annotations

from datetime import datetime

from flask import jsonify
from flask.typing import ResponseReturnValue

from wallet.assets import CRYPTO_ASSETS, get_asset
from wallet.db.base import utcnow
from wallet.ledger import get_balance, user_wallet
from wallet.money import Rounding, format_minor, scale_ratio
from webapp.api.authn import api_user, require_auth
from webapp.api.blueprint import bp
from webapp.api.schemas import BalanceOut, WalletResponse
from webapp.api.spec import documented
from webapp.extensions import rate_cache, settings, unit_of_work


def inr_value_paise(asset: str, minor: int, now: datetime) -> int | None:
    """Paise that ``minor`` units are worth at the current rate, or None.

    Rounded down: a displayed value is what we could pay out, not more.
    None when no fresh rate is cached.
    """
    from wallet.rates.cache import fresh_rate
    from wallet.rates.errors import StaleRate

    try:
        rate = fresh_rate(rate_cache(), asset, now, settings().rate_max_age_seconds)
    except StaleRate:
        return None
    return scale_ratio(minor, rate.rate, Rounding.DOWN)


def wallet_balances(user_id: int) -> list[BalanceOut]:
    """One row per crypto asset the platform holds for payers (zeros included)."""
    now = utcnow()
    # One short transaction: on SQLite every transaction holds the write
    # lock, so nothing may stay open while rates are read or the view returns.
    with unit_of_work() as session:
        balances = [get_balance(session, user_wallet(user_id, s)) for s in CRYPTO_ASSETS]
    rows: list[BalanceOut] = []
    for symbol, bal in zip(CRYPTO_ASSETS, balances, strict=True):
        decimals = get_asset(symbol).decimals
        inr = inr_value_paise(symbol, bal.balance, now)
        rows.append(
            BalanceOut(
                asset=symbol,
                amount=format_minor(bal.balance, decimals, trim=True),
                amount_minor=str(bal.balance),
                available=format_minor(bal.available, decimals, trim=True),
                available_minor=str(bal.available),
                inr_value=None if inr is None else format_minor(inr, 2),
            )
        )
    return rows


@bp.get("/wallet")
@require_auth
@documented(
    summary="Your balance per asset, with its rupee value",
    tags=("wallet",),
    responses={200: (WalletResponse, "Every supported asset, zero balances included.")},
)
def get_wallet() -> ResponseReturnValue:
    """Balances from the ledger's ``user:<id>:wallet:<ASSET>`` accounts."""
    out = WalletResponse(balances=wallet_balances(api_user().id))
    return jsonify(out.model_dump(mode="json"))
