"""Shared plumbing of the merchant views: blueprints, the merchant of the
request, configuration and the outside clients."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from wallet.custody.kms import KeyManager
from wallet.db.models.users import Merchant, Role
from wallet.devkeys import platform_kms
from wallet.merchants import profile
from wallet.merchants.config import MerchantConfig
from wallet.payouts.razorpayx import RazorpayXClient
from webapp.extensions import settings, unit_of_work
from webapp.security import role_required, signed_in

bp = Blueprint("merchant", __name__, url_prefix="/merchant")
links_bp = Blueprint("merchant_links", __name__)

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


def config() -> MerchantConfig:
    return MerchantConfig.from_settings(settings())


def kms() -> KeyManager:
    """The KMS over the master keys (cheap: built per use, never cached globally)."""
    return platform_kms(settings())


def razorpayx() -> RazorpayXClient:
    """A RazorpayX client for fund-account validation (close it after use)."""
    return RazorpayXClient.from_settings(settings(), max_attempts=2, timeout_s=5.0)


def allow_private_webhooks() -> bool:
    """Loopback and plain-http endpoints are for development and tests only."""
    return settings().environment != "production"


def actor() -> str:
    user, _row = signed_in()
    return f"user:{user.id}"


def current_merchant() -> Merchant:
    merchant: Merchant = g.merchant
    return merchant


def merchant_required(view: F) -> F:
    """Merchant users only (others get 404); without a profile, go to set-up."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        user, _row = signed_in()
        with unit_of_work() as db:
            merchant = profile.merchant_for_user(db, user.id)
        if merchant is None:
            return redirect(url_for("merchant.setup", next=request.path))
        g.merchant = merchant
        return view(*args, **kwargs)

    return cast(F, role_required(Role.MERCHANT)(cast(F, wrapped)))
