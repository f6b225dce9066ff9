"""Webhook verification runs over the raw bytes before any parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wallet.payouts import webhooks
from wallet.payouts.errors import PayoutError, WebhookPayloadInvalid, WebhookSignatureInvalid
from wallet.payouts.status import PayoutStatus

SECRET = "whsec-test"


def envelope(**payout: Any) -> bytes:
    entity = {
        "id": "pout_00000000000001",
        "entity": "payout",
        "fund_account_id": "fa_00000000000001",
        "amount": 1000000,
        "currency": "INR",
        "notes": {"payment": "p_1"},
        "fees": 590,
        "tax": 90,
        "status": "processed",
        "utr": "123456789012",
        "mode": "UPI",
        "purpose": "payout",
        "reference_id": "p_1",
        "status_details": {"reason": "payout_processed", "description": "ok", "source": "x"},
        "created_at": 1545383037,
        **payout,
    }
    event = {
        "entity": "event",
        "account_id": "acc_00000000000001",
        "event": "payout.processed",
        "contains": ["payout"],
        "payload": {"payout": {"entity": entity}},
        "created_at": 1545383039,
    }
    return json.dumps(event).encode()


def headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-Razorpay-Signature": webhooks.signature(body, secret),
        "X-Razorpay-Event-Id": "evt_1",
    }


def test_valid_event_parses_into_a_typed_payout() -> None:
    body = envelope()
    event = webhooks.verify_and_parse(body, headers(body), SECRET)
    assert event.event_id == "evt_1" and event.event == "payout.processed"
    assert event.payout is not None
    assert event.payout.status == PayoutStatus.PROCESSED
    assert event.payout.amount_paise == 1000000 and event.payout.fees_paise == 590
    assert event.payout.utr == "123456789012" and event.payout.notes == {"payment": "p_1"}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.replace(b"1000000", b"9000000"),  # amount changed
        lambda b: b + b" ",  # even whitespace counts: raw bytes are signed
        lambda b: json.dumps(json.loads(b), indent=1).encode(),  # re-serialised
    ],
)
def test_tampered_body_is_rejected(mutate: Any) -> None:
    body = envelope()
    tampered = mutate(body)
    assert tampered != body
    with pytest.raises(WebhookSignatureInvalid) as caught:
        webhooks.verify_and_parse(tampered, headers(body), SECRET)
    assert caught.value.code == "webhook_signature_invalid"


def test_wrong_secret_or_missing_header_is_rejected() -> None:
    body = envelope()
    with pytest.raises(WebhookSignatureInvalid):
        webhooks.verify(body, webhooks.signature(body, "api-key-secret"), SECRET)
    with pytest.raises(WebhookSignatureInvalid):
        webhooks.verify(body, None, SECRET)
    with pytest.raises(WebhookSignatureInvalid) as caught:
        webhooks.verify(body, webhooks.signature(body, SECRET), "")
    assert caught.value.code == "webhook_not_configured"


def test_signature_is_checked_before_json_is_parsed() -> None:
    garbage = b"{not json"
    with pytest.raises(WebhookSignatureInvalid):
        webhooks.verify_and_parse(garbage, {"X-Razorpay-Signature": "00"}, SECRET)
    with pytest.raises(WebhookPayloadInvalid):  # correctly signed but not JSON
        webhooks.verify_and_parse(garbage, headers(garbage), SECRET)


def test_missing_event_id_is_refused_because_dedupe_needs_it() -> None:
    body = envelope()
    with pytest.raises(WebhookPayloadInvalid):
        webhooks.verify_and_parse(
            body, {"x-razorpay-signature": webhooks.signature(body, SECRET)}, SECRET
        )


def test_float_amount_or_unknown_status_is_refused() -> None:
    for body in (envelope(amount=100.5), envelope(status="teleported")):
        with pytest.raises(PayoutError) as caught:
            webhooks.verify_and_parse(body, headers(body), SECRET)
        assert caught.value.code == "payout_unexpected_response"
