"""Inbound provider webhooks (RazorpayX payouts).

The body is verified over its raw bytes with a constant-time compare before
any JSON is parsed (``wallet.payouts.webhooks``); a forged or tampered
delivery gets 400 and changes nothing. Replays are deduplicated by event id
and statuses only move forward, so provider retries and reordering are safe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import cast

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from wallet.payouts.errors import WebhookPayloadInvalid, WebhookSignatureInvalid
from wallet.settlement.webhooks import handle_payout_webhook
from webapp.extensions import session_factory, settings

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)


@bp.post("/razorpayx")
def razorpayx() -> ResponseReturnValue:
    """RazorpayX payout events (payout.processed, payout.failed, payout.reversed, …)."""
    secret = settings().razorpayx_webhook_secret.get_secret_value()
    try:
        result = handle_payout_webhook(
            session_factory(),
            request.get_data(cache=False),
            cast(Mapping[str, str], request.headers),  # case-insensitive, like the provider's
            secret,
        )
    except (WebhookSignatureInvalid, WebhookPayloadInvalid) as exc:
        log.warning("rejected RazorpayX webhook: %s", exc.code)
        return jsonify({"error": {"code": exc.code, "message": exc.message}}), 400
    return jsonify({"status": result.value})
