"""The merchant API (issue 8, "Merchant API"): payments, payment links, payout account.

Callers authenticate with a scoped merchant key (``Authorization: Bearer
tfm_…``, from the dashboard's API keys page), or as the merchant user (an
API token or the dashboard's session), which carries every scope. A key
without the operation's scope gets 403 ``insufficient_scope``; a user
without a merchant profile gets 403 ``not_a_merchant``. Another merchant's
payment is 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, Literal, TypeVar, cast

from flask import g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from wallet.db.base import utcnow
from wallet.db.models.payments import Payment
from wallet.db.models.settlement import Payout
from wallet.db.models.users import Merchant, User
from wallet.merchants import apikeys, links, profile, queries
from wallet.merchants.config import MerchantConfig
from wallet.merchants.errors import InvalidInput, ScopeMissing
from wallet.merchants.queries import PaymentFilters
from wallet.money import format_minor
from wallet.payouts.razorpayx import RazorpayXClient
from wallet.upi import parse_amount_paise
from webapp.api.authn import Unauthorized, require_auth
from webapp.api.blueprint import bp
from webapp.api.idempotency import idempotent
from webapp.api.spec import documented
from webapp.api.validation import parse_body
from webapp.extensions import settings, unit_of_work
from webapp.security import current_user

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])
TAGS = ("merchant",)

_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII digits only; bounded so SQL cannot overflow


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=4096)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PayoutOut(_Response):
    status: str = Field(description="RazorpayX payout status, e.g. processing, processed.")
    utr: str | None = Field(description="Bank reference once processed.")
    amount_inr: str
    updated_at: datetime


class MerchantPaymentOut(_Response):
    id: str
    status: str
    amount_inr: str = Field(description="Rupees the vendor receives.", examples=["250.00"])
    amount_inr_minor: str = Field(description="The same in paise.", examples=["25000"])
    asset: str
    amount_crypto: str = Field(description="What the payer paid, in the asset's unit.")
    amount_crypto_minor: str
    payee_vpa: str
    created_at: datetime
    payout: PayoutOut | None


class TimelineStep(_Response):
    status: str
    reason: str
    at: datetime


class MerchantPaymentDetail(MerchantPaymentOut):
    timeline: list[TimelineStep]
    payment_link_id: str | None


class MerchantPaymentList(_Response):
    payments: list[MerchantPaymentOut]
    next_offset: int | None = Field(
        description="Pass as `offset` for the next page; null at the end."
    )


class PaymentLinkRequest(_Request):
    amount_inr: str = Field(
        min_length=1, max_length=16, description="Rupees, at most 2 decimals.", examples=["250"]
    )
    note: str | None = Field(default=None, max_length=100, examples=["Table 4"])
    expires_in: int | None = Field(
        default=None,
        ge=60,
        le=7 * 86400,
        description="Seconds until the link expires (default 900).",
    )


class PaymentLinkOut(_Response):
    id: str
    url: str = Field(description="The link the dynamic QR encodes (`/m/<id>`).")
    qr_svg_url: str = Field(description="An SVG of the QR code.")
    amount_inr: str
    amount_inr_minor: str
    note: str | None
    status: Literal["active", "used", "cancelled", "expired"]
    expires_at: datetime


class PayoutAccountRequest(_Request):
    vpa: str = Field(min_length=3, max_length=255, examples=["ramu.chai@okaxis"])


class PayoutAccountOut(_Response):
    vpa: str
    registered_name: str | None = Field(description="The name the bank registered for the VPA.")
    status: Literal["pending"]
    effective_at: datetime = Field(description="When payouts start going to this VPA.")
    current_vpa: str = Field(description="Where payouts go until then.")


# --- authentication ---------------------------------------------------------------


def _merchant() -> Merchant:
    merchant: Merchant = g.merchant
    return merchant


def merchant_auth(scope: str) -> Callable[[F], F]:
    """A merchant key with ``scope``, or the merchant user (all scopes)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            header = request.headers.get("Authorization", "")
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer" and apikeys.looks_like_key(value.strip()):
                with unit_of_work() as db:
                    found = apikeys.authenticate_key(db, value.strip(), now=utcnow())
                    user = db.get(User, found[0].user_id) if found else None
                if found is None or user is None:
                    raise Unauthorized("the API key is invalid or revoked")
                merchant, key = found
                if scope not in key.scopes:
                    raise ScopeMissing(f"this key lacks the {scope!r} scope")
                g.api_user, g.merchant = user, merchant
                return view(*args, **kwargs)
            return require_auth(cast(F, _as_user))(view, *args, **kwargs)

        return cast(F, wrapped)

    return decorate


def _as_user(view: F, *args: Any, **kwargs: Any) -> ResponseReturnValue:
    user: User = g.api_user
    with unit_of_work() as db:
        g.merchant = profile.require_merchant(db, user.id)
    return view(*args, **kwargs)


# --- views -----------------------------------------------------------------------------


def _payment_out(p: Payment, payout: Payout | None) -> dict[str, Any]:
    from wallet.assets import get_asset

    decimals = get_asset(p.asset).decimals
    return {
        "id": p.id,
        "status": p.status.value,
        "amount_inr": format_minor(p.amount_inr_paise, 2),
        "amount_inr_minor": str(p.amount_inr_paise),
        "asset": p.asset,
        "amount_crypto": format_minor(p.amount_minor, decimals, trim=True),
        "amount_crypto_minor": str(p.amount_minor),
        "payee_vpa": p.payee_vpa,
        "created_at": p.created_at,
        "payout": None
        if payout is None
        else {
            "status": payout.status.value,
            "utr": payout.utr,
            "amount_inr": format_minor(payout.amount_paise, 2),
            "updated_at": payout.updated_at,
        },
    }


@bp.get("/merchant/payments")
@merchant_auth("payments:read")
@documented(
    summary="Your payments, newest first",
    tags=TAGS,
    description="Scope `payments:read`. Filters: `status`, `asset`, `from`/`to` (IST dates, "
    "inclusive), `q` (payment id prefix, UTR, VPA).",
    query={
        "status": {"schema": {"type": "string"}, "required": False},
        "asset": {"schema": {"type": "string"}, "required": False},
        "from": {"schema": {"type": "string", "format": "date"}, "required": False},
        "to": {"schema": {"type": "string", "format": "date"}, "required": False},
        "q": {"schema": {"type": "string", "maxLength": 100}, "required": False},
        "limit": {"schema": {"type": "integer", "minimum": 1, "maximum": 200}, "required": False},
        "offset": {
            "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999},
            "required": False,
        },
    },
    responses={
        200: (MerchantPaymentList, "A page of payments."),
        403: (None, "`insufficient_scope` or `not_a_merchant`."),
    },
)
def list_payments() -> ResponseReturnValue:
    filters = PaymentFilters.parse(request.args)
    # Strict: ``type=int`` would quietly turn ``offset=null`` into the default.
    raw_limit, raw_offset = request.args.get("limit", "50"), request.args.get("offset", "0")
    if not (_DIGITS.fullmatch(raw_limit) and _DIGITS.fullmatch(raw_offset)):
        raise InvalidInput("limit must be 1–200 and offset 0–999999999")
    limit, offset = int(raw_limit), int(raw_offset)
    if not 1 <= limit <= 200:
        raise InvalidInput("limit must be 1–200 and offset 0–999999999")
    with unit_of_work() as db:
        rows = queries.list_payments(db, _merchant().id, filters, limit=limit + 1, offset=offset)
        latest = queries.payouts_for(db, [p.id for p in rows])
    page = rows[:limit]
    body = MerchantPaymentList.model_validate(
        {
            "payments": [_payment_out(p, latest.get(p.id)) for p in page],
            "next_offset": offset + limit if len(rows) > limit else None,
        }
    )
    return jsonify(body.model_dump(mode="json"))


@bp.get("/merchant/payments/<payment_id>")
@merchant_auth("payments:read")
@documented(
    summary="One of your payments, with its timeline and payout",
    tags=TAGS,
    description="Scope `payments:read`. Another merchant's payment is 404 `not_found`.",
    responses={
        200: (MerchantPaymentDetail, "The payment."),
        403: (None, "`insufficient_scope` or `not_a_merchant`."),
        404: (None, "No such payment of yours."),
    },
)
def get_payment(payment_id: str) -> ResponseReturnValue:
    with unit_of_work() as db:
        d = queries.payment_detail(db, payment_id, _merchant().id)
    data = _payment_out(d.payment, d.latest_payout) | {
        "timeline": [
            {"status": e.to_status.value, "reason": e.reason, "at": e.at} for e in d.events
        ],
        "payment_link_id": d.link.id if d.link else None,
    }
    return jsonify(MerchantPaymentDetail.model_validate(data).model_dump(mode="json"))


def _link_out(link: Any) -> dict[str, Any]:
    return {
        "id": link.id,
        "url": url_for("merchant_links.open_link", link_id=link.id, _external=True),
        "qr_svg_url": url_for("merchant_links.link_qr", link_id=link.id, _external=True),
        "amount_inr": format_minor(link.amount_paise, 2),
        "amount_inr_minor": str(link.amount_paise),
        "note": link.note,
        "status": links.link_state(link, utcnow()),
        "expires_at": link.expires_at,
    }


@bp.post("/merchant/payment-links")
@merchant_auth("links:write")
@idempotent
@documented(
    summary="Create a dynamic QR: a single-use payment link with an amount",
    request=PaymentLinkRequest,
    idempotent=True,
    tags=TAGS,
    description="Scope `links:write`. Refusals: `upi_invalid_amount`, `upi_amount_too_large`, "
    "`invalid_amount`, `invalid_expiry`, `merchant_inactive`.",
    responses={
        201: (PaymentLinkOut, "The link; show `qr_svg_url` to the customer."),
        403: (None, "`insufficient_scope` or `not_a_merchant`."),
    },
)
def create_payment_link() -> ResponseReturnValue:
    body = parse_body(PaymentLinkRequest)
    config = MerchantConfig.from_settings(settings())
    amount = parse_amount_paise(body.amount_inr, max_paise=config.link_max_paise)
    with unit_of_work() as db:
        merchant = db.get_one(Merchant, _merchant().id)
        link = links.create_link(
            db,
            merchant,
            amount_paise=amount,
            note=body.note,
            expires_in=body.expires_in,
            now=utcnow(),
            config=config,
            actor=f"user:{merchant.user_id}",
        )
    return jsonify(PaymentLinkOut.model_validate(_link_out(link)).model_dump(mode="json")), 201


@bp.put("/merchant/payout-account")
@merchant_auth("payout_account:write")
@idempotent
@documented(
    summary="Change the VPA your payouts go to (after a cooling-off period)",
    request=PayoutAccountRequest,
    idempotent=True,
    tags=TAGS,
    description="Scope `payout_account:write`. The VPA is checked by format and with "
    "RazorpayX's fund-account validation; payouts switch at `effective_at` and you are "
    "notified. Refusals: `upi_invalid_vpa`, `vpa_rejected`, `vpa_unchanged`; "
    "503 `vpa_check_unavailable` (nothing changed, retry).",
    responses={
        202: (PayoutAccountOut, "The change is scheduled."),
        403: (None, "`insufficient_scope` or `not_a_merchant`."),
        503: (None, "The payout provider could not be reached; nothing changed."),
    },
)
def put_payout_account() -> ResponseReturnValue:
    body = parse_body(PayoutAccountRequest)
    merchant = _merchant()
    # The validation is a network call: no transaction is open around it.
    with RazorpayXClient.from_settings(settings(), max_attempts=2, timeout_s=5.0) as client:
        check = profile.check_vpa(
            client,
            body.vpa,
            contact_name=merchant.display_name,
            reference_id=f"merchant-{merchant.id}",
        )
    actor = current_user()
    with unit_of_work() as db:
        live = db.get_one(Merchant, merchant.id)
        row = profile.request_vpa_change(
            db,
            live,
            check,
            actor=f"user:{actor.id if actor else live.user_id}",
            now=utcnow(),
            config=MerchantConfig.from_settings(settings()),
        )
        current_vpa = live.upi_vpa
    out = PayoutAccountOut(
        vpa=row.vpa,
        registered_name=row.registered_name,
        status="pending",
        effective_at=row.effective_at,
        current_vpa=current_vpa,
    )
    return jsonify(out.model_dump(mode="json")), 202
