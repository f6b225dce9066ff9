"""The merchant API: scoped keys, isolation, payment links, OpenAPI coverage."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.merchant.support import csrf, make_payment, new_merchant, signed_in
from wallet.db.models import PaymentStatus, PayoutStatus
from webapp.api.spec import build_spec, undocumented_api_rules

KEY_RE = re.compile(r"tfm_[A-Za-z0-9_\-]{43}")


def issue_key(client: FlaskClient, *scopes: str) -> str:
    token = csrf(client, "/merchant/api-keys")
    resp = client.post(
        "/merchant/api-keys",
        data={"name": "billing", "scopes": list(scopes), "csrf_token": token},
    )
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    match = KEY_RE.search(resp.get_data(as_text=True))
    assert match
    return match.group(0)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_key_is_shown_once_scoped_and_revocable(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    key = issue_key(client, "payments:read")
    assert key not in client.get("/merchant/api-keys").get_data(as_text=True)
    payment = make_payment(app, merchant, payout=(PayoutStatus.PROCESSED, "UTR42"))
    api = app.test_client()
    listed = api.get("/api/v1/merchant/payments", headers=bearer(key))
    assert listed.status_code == 200
    body = listed.get_json()
    assert [p["id"] for p in body["payments"]] == [payment.id]
    assert body["payments"][0]["payout"]["utr"] == "UTR42"
    assert body["payments"][0]["amount_inr"] == "250.00"
    # No scope for links or the payout account.
    refused = api.post(
        "/api/v1/merchant/payment-links", json={"amount_inr": "10"}, headers=bearer(key)
    )
    assert (
        refused.status_code == 403 and refused.get_json()["error"]["code"] == "insufficient_scope"
    )
    refused = api.put(
        "/api/v1/merchant/payout-account", json={"vpa": "x@okaxis"}, headers=bearer(key)
    )
    assert refused.status_code == 403
    # Revoke: the key stops working at once.
    page = client.get("/merchant/api-keys").get_data(as_text=True)
    key_id = re.search(r"/merchant/api-keys/(\d+)/revoke", page).group(1)  # type: ignore[union-attr]
    token = csrf(client, "/merchant/api-keys")
    client.post(f"/merchant/api-keys/{key_id}/revoke", data={"csrf_token": token})
    assert api.get("/api/v1/merchant/payments", headers=bearer(key)).status_code == 401
    assert (
        api.get("/api/v1/merchant/payments", headers=bearer("tfm_" + "x" * 43)).status_code == 401
    )


def test_api_isolation_and_detail(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    key = issue_key(client, "payments:read")
    _other, other = new_merchant(app, name="Other")
    theirs = make_payment(app, other)
    mine = make_payment(app, merchant, PaymentStatus.HELD_FOR_REVIEW)
    api = app.test_client()
    assert api.get(f"/api/v1/merchant/payments/{theirs.id}", headers=bearer(key)).status_code == 404
    detail = api.get(f"/api/v1/merchant/payments/{mine.id}", headers=bearer(key)).get_json()
    assert [s["status"] for s in detail["timeline"]] == [
        "quote_issued",
        "awaiting_funds",
        "detected",
        "confirmed",
        "held_for_review",
    ]
    assert detail["payout"] is None
    filtered = api.get("/api/v1/merchant/payments?status=completed", headers=bearer(key)).get_json()
    assert filtered["payments"] == []
    bad = api.get("/api/v1/merchant/payments?status=nope", headers=bearer(key))
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "validation_error"


def test_create_payment_link_via_api_is_idempotent(app: Flask) -> None:
    client, _user, _m = signed_in(app)
    key = issue_key(client, "links:write")
    api = app.test_client()
    headers = {**bearer(key), "Idempotency-Key": "link-1"}
    body = {"amount_inr": "99.50", "note": "Chai x3", "expires_in": 600}
    first = api.post("/api/v1/merchant/payment-links", json=body, headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    link = first.get_json()
    assert link["amount_inr_minor"] == "9950" and link["status"] == "active"
    assert link["url"].endswith(f"/m/{link['id']}")
    assert app.test_client().get(link["qr_svg_url"]).mimetype == "image/svg+xml"
    again = api.post("/api/v1/merchant/payment-links", json=body, headers=headers)
    assert again.get_json()["id"] == link["id"] and again.headers["Idempotent-Replayed"] == "true"
    for bad in (
        {"amount_inr": 99.5},
        {"amount_inr": "1.234"},
        {"amount_inr": "5", "x": 1},
        {"amount_inr": "5", "expires_in": 5},
    ):
        resp = api.post("/api/v1/merchant/payment-links", json=bad, headers=bearer(key))
        assert resp.status_code == 400, bad


def test_merchant_user_token_has_every_scope_and_payers_are_refused(app: Flask) -> None:
    from wallet.db.models import Role

    client, _user, merchant = signed_in(app)
    make_payment(app, merchant)
    # The dashboard's own session works (JSON GET carries no CSRF need).
    assert len(client.get("/api/v1/merchant/payments").get_json()["payments"]) == 1
    payer, _u, _m = signed_in(app, Role.PAYER)
    resp = payer.get("/api/v1/merchant/payments")
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "not_a_merchant"
    assert app.test_client().get("/api/v1/merchant/payments").status_code == 401


def test_merchant_routes_are_in_the_openapi_spec(app: Flask) -> None:
    assert undocumented_api_rules(app) == []
    paths = build_spec(app)["paths"]
    assert {"get"} <= set(paths["/merchant/payments"])
    assert "get" in paths["/merchant/payments/{payment_id}"]
    assert "post" in paths["/merchant/payment-links"]
    assert "put" in paths["/merchant/payout-account"]
