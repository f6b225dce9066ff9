"""The REST API: sign-up and tokens, bearer auth, validation, wallet, codes, limits."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.accounts.helpers import PASSWORD, unique_email
from tests.webapp.conftest import AppFactory, api_signup, bearer, csrf_from, web_signup
from wallet.accounts.models import ApiToken
from wallet.assets import CRYPTO_ASSETS
from wallet.db.models.users import User
from wallet.ledger import post_entry, user_wallet
from webapp.extensions import session_factory


def _count(app: Flask, model: type[Any]) -> int:
    with app.app_context(), session_factory()() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_signup_returns_the_user_and_a_working_token(any_app: Flask) -> None:
    client = any_app.test_client()
    email = unique_email("Payer").upper()
    body = api_signup(client, email, role="merchant")
    assert set(body) == {"user", "token"}
    assert body["user"]["email"] == email.lower()
    assert body["user"]["role"] == "merchant"
    assert isinstance(body["user"]["id"], int)
    assert body["token"].startswith("tfw_")
    resp = client.get("/api/v1/wallet", headers=bearer(body["token"]))
    assert resp.status_code == 200


def test_tokens_are_stored_only_as_hashes(app: Flask, client: FlaskClient) -> None:
    token = api_signup(client)["token"]
    with app.app_context(), session_factory()() as db:
        row = db.scalars(select(ApiToken)).one()
    assert token not in (row.token_hash, row.prefix, row.name)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (
            {"email": "a@example.com", "password": PASSWORD, "role": "admin"},
            "validation_error",
            "role",
        ),
        (
            {"email": "a@example.com", "password": PASSWORD, "kyc_tier": 2},
            "validation_error",
            "kyc_tier",
        ),
        (
            {"email": "a@example.com", "password": PASSWORD, "status": "active"},
            "validation_error",
            "status",
        ),
        ({"email": "a@example.com"}, "validation_error", "password"),
        ({"email": 7, "password": PASSWORD}, "validation_error", "email"),
        (
            {"email": "a@example.com", "password": PASSWORD, "role": ["payer"]},
            "validation_error",
            "role",
        ),
        ({"email": "not-an-email", "password": PASSWORD}, "invalid_email", None),
        ({"email": "a@example.com", "password": "short"}, "weak_password", None),
    ],
)
def test_signup_validation(
    app: Flask, client: FlaskClient, body: dict[str, Any], code: str, field: str | None
) -> None:
    resp = client.post("/api/v1/auth/signup", json=body)
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field is not None:
        assert field in [d["field"] for d in error["details"]]
    if "kyc_tier" in body or "status" in body:
        assert error["details"][0]["code"] == "unknown_field"
    assert _count(app, User) == 0


def test_mass_assignment_cannot_raise_role_or_kyc(app: Flask, client: FlaskClient) -> None:
    resp = client.post(
        "/api/v1/auth/signup",
        json={
            "email": "m@example.com",
            "password": PASSWORD,
            "role": "payer",
            "kyc_tier": 2,
            "role ": "admin",
        },
    )
    assert resp.status_code == 400
    assert _count(app, User) == 0


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "invalid_json"),
        ('["a", "list"]', "application/json", 400, "invalid_json"),
        ("email=a@example.com", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_bodies_must_be_json_objects(
    client: FlaskClient, data: str, content_type: str, status: int, code: str
) -> None:
    resp = client.post("/api/v1/auth/signup", data=data, content_type=content_type)
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] == code


def test_duplicate_signup_is_a_conflict(client: FlaskClient) -> None:
    email = unique_email()
    api_signup(client, email)
    resp = client.post("/api/v1/auth/signup", json={"email": email.upper(), "password": PASSWORD})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "email_taken"


def test_token_endpoint(any_app: Flask) -> None:
    client = any_app.test_client()
    email = unique_email()
    api_signup(client, email)
    ok = client.post(
        "/api/v1/auth/token", json={"email": email, "password": PASSWORD, "name": "cli"}
    )
    assert ok.status_code == 200
    token = ok.get_json()["token"]
    assert client.get("/api/v1/auth/tokens", headers=bearer(token)).status_code == 200

    bad = client.post("/api/v1/auth/token", json={"email": email, "password": "wrong-wrong"})
    assert bad.status_code == 401
    assert bad.get_json()["error"]["code"] == "invalid_credentials"
    unknown = client.post(
        "/api/v1/auth/token", json={"email": unique_email(), "password": PASSWORD}
    )
    assert unknown.get_json() == bad.get_json()  # no hint which e-mails exist


def test_token_endpoint_throttles_guessing(app: Flask, client: FlaskClient) -> None:
    email = unique_email()
    api_signup(client, email)
    codes = [
        client.post(
            "/api/v1/auth/token", json={"email": email, "password": f"guess-{i}-xx"}
        ).status_code
        for i in range(7)
    ]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    resp = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 429
    assert resp.get_json()["error"]["code"] == "login_throttled"
    assert int(resp.headers["Retry-After"]) >= 1
    other = app.test_client()
    ok = other.post(
        "/api/v1/auth/token",
        json={"email": email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "198.51.100.3"},
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer tfw_" + "A" * 43},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
def test_missing_or_bad_tokens_get_401(client: FlaskClient, headers: dict[str, str]) -> None:
    resp = client.get("/api/v1/wallet", headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_stops_working_and_revocation_is_per_user(client: FlaskClient) -> None:
    alice = api_signup(client)["token"]
    bob = api_signup(client)["token"]
    bob_tokens = client.get("/api/v1/auth/tokens", headers=bearer(bob)).get_json()["tokens"]
    alice_tokens = client.get("/api/v1/auth/tokens", headers=bearer(alice)).get_json()["tokens"]
    assert {t["id"] for t in bob_tokens}.isdisjoint({t["id"] for t in alice_tokens})
    assert all(
        set(t) == {"id", "name", "prefix", "created_at", "last_used_at", "expires_at"}
        for t in bob_tokens
    )
    # Alice cannot revoke Bob's token: it does not exist for her.
    resp = client.delete(f"/api/v1/auth/tokens/{bob_tokens[0]['id']}", headers=bearer(alice))
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/wallet", headers=bearer(bob)).status_code == 200
    # Bob can.
    assert (
        client.delete(f"/api/v1/auth/tokens/{bob_tokens[0]['id']}", headers=bearer(bob)).status_code
        == 204
    )
    assert client.get("/api/v1/wallet", headers=bearer(bob)).status_code == 401


def test_sessions_api_is_scoped_to_the_caller(app: Flask) -> None:
    browser = app.test_client()
    web_signup(browser)
    api = app.test_client()
    mallory = api_signup(api)["token"]
    csrf = csrf_from(browser, "/account")
    mine = browser.get("/api/v1/auth/sessions").get_json()["sessions"]
    assert len(mine) == 1 and mine[0]["current"] is True
    assert api.get("/api/v1/auth/sessions", headers=bearer(mallory)).get_json() == {"sessions": []}
    resp = api.delete(f"/api/v1/auth/sessions/{mine[0]['id']}", headers=bearer(mallory))
    assert resp.status_code == 404
    # The PWA's own cookie works for the API, with the CSRF header on unsafe calls.
    assert browser.post("/api/v1/auth/logout-everywhere").status_code == 403
    resp = browser.post("/api/v1/auth/logout-everywhere", headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 200 and resp.get_json() == {"sessions_ended": 1}
    assert browser.get("/api/v1/auth/sessions").status_code == 401


def test_wallet_lists_every_asset_as_strings(app: Flask, client: FlaskClient) -> None:
    body = api_signup(client)
    user_id, token = body["user"]["id"], body["token"]
    with app.app_context(), session_factory()() as db, db.begin():
        post_entry(
            db,
            [
                ("external:deposits:SOL", "SOL", 1_500_000_001),
                (user_wallet(user_id, "SOL"), "SOL", -1_500_000_001),
            ],
            kind="test.deposit",
            ref="dep-1",
        )
    resp = client.get("/api/v1/wallet", headers=bearer(token))
    assert resp.status_code == 200
    balances = {b["asset"]: b for b in resp.get_json()["balances"]}
    assert set(balances) == set(CRYPTO_ASSETS)
    assert balances["SOL"] == {
        "asset": "SOL",
        "amount": "1.500000001",
        "amount_minor": "1500000001",
        "available": "1.500000001",
        "available_minor": "1500000001",
        "inr_value": None,
    }
    assert balances["ETH"]["amount"] == "0" and balances["ETH"]["amount_minor"] == "0"
    assert all(
        isinstance(value, str)
        for row in balances.values()
        for key, value in row.items()
        if key != "inr_value"
    )
    # Another user sees none of it.
    other = api_signup(client)["token"]
    theirs = {
        b["asset"]: b
        for b in client.get("/api/v1/wallet", headers=bearer(other)).get_json()["balances"]
    }
    assert theirs["SOL"]["amount_minor"] == "0"


def test_parse_payment_code(client: FlaskClient) -> None:
    token = api_signup(client)["token"]
    ok = client.post(
        "/api/v1/payment-codes/parse",
        json={"code": "upi://pay?pa=chai@okaxis&pn=Ramu%20Chai&am=20.5&cu=INR"},
        headers=bearer(token),
    )
    assert ok.status_code == 200
    body = ok.get_json()
    assert body["payee"] == {"vpa": "chai@okaxis", "name": "Ramu Chai"}
    assert body["amount_inr"] == "20.50" and body["amount_inr_minor"] == "2050"
    link = client.post(
        "/api/v1/payment-codes/parse",
        json={"code": "http://localhost/m/lnk_abc123"},
        headers=bearer(token),
    )
    assert link.get_json()["kind"] == "merchant_link"
    assert link.get_json()["merchant_link_id"] == "lnk_abc123"
    foreign = client.post(
        "/api/v1/payment-codes/parse",
        json={"code": "https://evil.example/m/lnk_abc123"},
        headers=bearer(token),
    )
    assert foreign.get_json()["error"]["code"] == "upi_invalid_merchant_link"
    bad = client.post(
        "/api/v1/payment-codes/parse", json={"code": "upi://pay?pa=bad vpa"}, headers=bearer(token)
    )
    assert bad.status_code == 400
    assert bad.get_json()["error"]["code"] == "upi_invalid_vpa"
    assert (
        client.post("/api/v1/payment-codes/parse", json={"code": "upi://pay?pa=a@b"}).status_code
        == 401
    )


def test_auth_endpoints_are_rate_limited_with_retry_after(make_app: AppFactory) -> None:
    app = make_app(RATE_LIMIT_AUTH="3/minute")
    client = app.test_client()
    statuses = [
        client.post(
            "/api/v1/auth/token", json={"email": unique_email(), "password": "x" * 12}
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    resp = client.post("/api/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD})
    assert resp.status_code == 429  # one budget for every auth endpoint
    assert resp.get_json()["error"]["code"] == "too_many_requests"
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    # Reads are not counted against the sign-in budget.
    assert client.get("/login").status_code == 200


def test_unknown_api_paths_and_methods_answer_json(client: FlaskClient) -> None:
    resp = client.get("/api/v1/nope")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    resp = client.put("/api/v1/wallet")
    assert resp.status_code == 405 and resp.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


def test_oversized_bodies_are_refused(client: FlaskClient) -> None:
    resp = client.post(
        "/api/v1/auth/signup",
        data='{"email": "' + "a" * (2 * 1024 * 1024) + '"}',
        content_type="application/json",
    )
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "request_entity_too_large"
