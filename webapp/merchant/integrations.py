"""Webhooks and API keys (issue 8, "Webhooks", "API keys").

Secrets (a webhook signing secret, an API key) are shown once, on the
response to the request that made them, with ``Cache-Control: no-store``;
creating or rotating them needs the password typed recently.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from wallet.db.base import utcnow
from wallet.errors import WalletError
from wallet.merchants import apikeys, webhooks
from webapp.extensions import unit_of_work
from webapp.merchant.common import (
    actor,
    allow_private_webhooks,
    bp,
    current_merchant,
    kms,
    merchant_required,
)
from webapp.security import reauth_required

NO_STORE = {"Cache-Control": "no-store"}


def _webhooks_page(new_secret: str | None = None, status: int = 200) -> ResponseReturnValue:
    merchant = current_merchant()
    with unit_of_work() as db:
        endpoints = webhooks.list_endpoints(db, merchant.id)
        log = webhooks.delivery_log(db, merchant.id, limit=50)
        attempts = {d.id: webhooks.attempts_of(db, d.id) for d, _e in log[:20]}
    page = render_template(
        "merchant/webhooks.html",
        endpoints=endpoints,
        log=log,
        attempts=attempts,
        events=webhooks.EVENTS,
        new_secret=new_secret,
        signature_header=webhooks.SIGNATURE_HEADER,
        timestamp_header=webhooks.TIMESTAMP_HEADER,
        event_id_header=webhooks.EVENT_ID_HEADER,
    )
    return page, status, (NO_STORE if new_secret else {})


@bp.get("/webhooks")
@merchant_required
def webhooks_page() -> ResponseReturnValue:
    """Endpoints, the signing scheme, and the delivery log with replay."""
    return _webhooks_page()


@bp.post("/webhooks")
@merchant_required
@reauth_required()
def create_webhook() -> ResponseReturnValue:
    merchant = current_merchant()
    try:
        with unit_of_work() as db:
            made = webhooks.create_endpoint(
                db,
                kms(),
                merchant.id,
                request.form.get("url", ""),
                request.form.getlist("events") or None,
                allow_private=allow_private_webhooks(),
                actor=actor(),
                now=utcnow(),
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return _webhooks_page(status=exc.http_status)
    return _webhooks_page(new_secret=made.secret)


@bp.post("/webhooks/<int:endpoint_id>/rotate")
@merchant_required
@reauth_required()
def rotate_webhook(endpoint_id: int) -> ResponseReturnValue:
    merchant = current_merchant()
    with unit_of_work() as db:
        made = webhooks.rotate_secret(
            db, kms(), merchant.id, endpoint_id, actor=actor(), now=utcnow()
        )
    return _webhooks_page(new_secret=made.secret)


@bp.post("/webhooks/<int:endpoint_id>/toggle")
@merchant_required
def toggle_webhook(endpoint_id: int) -> ResponseReturnValue:
    merchant = current_merchant()
    enable = request.form.get("enabled") == "1"
    with unit_of_work() as db:
        webhooks.set_enabled(db, merchant.id, endpoint_id, enable, actor=actor())
    flash("Endpoint enabled." if enable else "Endpoint disabled.", "info")
    return redirect(url_for("merchant.webhooks_page"))


@bp.post("/webhooks/deliveries/<int:delivery_id>/replay")
@merchant_required
def replay_delivery(delivery_id: int) -> ResponseReturnValue:
    """Queue the event again (same event id and body, a fresh signature)."""
    merchant = current_merchant()
    with unit_of_work() as db:
        webhooks.replay(db, merchant.id, delivery_id, actor=actor(), now=utcnow())
    flash("Queued for redelivery.", "info")
    return redirect(url_for("merchant.webhooks_page"))


def _keys_page(new_key: str | None = None, status: int = 200) -> ResponseReturnValue:
    merchant = current_merchant()
    with unit_of_work() as db:
        keys = apikeys.list_keys(db, merchant.id)
    page = render_template(
        "merchant/api_keys.html", keys=keys, scopes=apikeys.SCOPES, new_key=new_key
    )
    return page, status, (NO_STORE if new_key else {})


@bp.get("/api-keys")
@merchant_required
def api_keys() -> ResponseReturnValue:
    """Scoped keys for the merchant API (values are never shown again)."""
    return _keys_page()


@bp.post("/api-keys")
@merchant_required
@reauth_required()
def create_api_key() -> ResponseReturnValue:
    merchant = current_merchant()
    try:
        with unit_of_work() as db:
            issued = apikeys.issue_key(
                db,
                merchant,
                request.form.get("name", ""),
                request.form.getlist("scopes"),
                actor=actor(),
                now=utcnow(),
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return _keys_page(status=exc.http_status)
    return _keys_page(new_key=issued.key)


@bp.post("/api-keys/<int:key_id>/revoke")
@merchant_required
def revoke_api_key(key_id: int) -> ResponseReturnValue:
    merchant = current_merchant()
    with unit_of_work() as db:
        apikeys.revoke_key(db, merchant.id, key_id, actor=actor(), now=utcnow())
    flash("API key revoked.", "info")
    return redirect(url_for("merchant.api_keys"))
