"""Per-device limits and parked withdrawals through the web tier (issue 9).

- The PWA gives each browser a long-lived ``tf_device`` cookie, set once and
  reused; the REST API takes an optional, validated ``X-Device-Id``. Either
  reaches the risk engine, so two accounts on one device share its limits.
- A withdrawal the risk engine holds for review is accepted (202,
  ``held_for_review``, "under review") with its coins held, shows in the
  payer's history and the admin review queue, and an admin's reject gives
  the coins back (approve: see tests/custody/test_withdrawal_review.py for
  the broadcast).

Real risk engine, sanctions list, ledger and state on SQLite.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.accounts.helpers import PASSWORD
from tests.merchant.support import csrf, signed_in
from tests.webapp.conftest import csrf_from, web_signup
from tests.webapp.pay_support import UPI, auth, fund, market, pay_app, signup
from tests.webapp.test_risk_and_tax_in_flow import SANCTIONED_SOL, SOL_DEST, _load_sanctions
from wallet.audit import trail
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.db.models.ops import IdempotencyKey
from wallet.db.models.payments import Payment
from wallet.db.models.users import Role, User
from wallet.ledger import check_invariants, get_balance, user_wallet
from wallet.risk import RiskConfig
from wallet.risk.models import LimitCounter
from webapp.device import COOKIE
from webapp.extensions import session_factory

__all__ = ["market", "pay_app"]  # fixtures

ONE_SOL = 1_000_000_000
DEVICE = "3f1c2a9e-7b4d-4e21-9c55-0d6a8e2b7f10"
OTHER_DEVICE = "android-install-00000000000042"
_QUOTE_URL = re.compile(r"/pay/quotes/([0-9a-f-]{36})$")


@pytest.fixture
def client(pay_app: Flask) -> FlaskClient:
    return pay_app.test_client()


def _count(app: Flask, model: type) -> int:
    with app.app_context(), session_factory()() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _available(app: Flask, user_id: int, asset: str = "SOL") -> int:
    with app.app_context(), session_factory()() as db:
        return get_balance(db, user_wallet(user_id, asset)).available


def _device_cookies(resp: Any) -> list[str]:
    return [h for h in resp.headers.getlist("Set-Cookie") if h.startswith(f"{COOKIE}=")]


def _api_quote(client: FlaskClient, token: str) -> str:
    body = {"upi_uri": UPI, "asset": "SOL"}
    resp = client.post("/api/v1/quotes", json=body, headers=auth(token))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return str(resp.get_json()["id"])


def _api_pay(client: FlaskClient, token: str, device: str | None, key: str | None = None) -> Any:
    headers = auth(token, key)
    if device is not None:
        headers["X-Device-Id"] = device
    body = {"quote_id": _api_quote(client, token), "source": "custodial"}
    return client.post("/api/v1/payments", json=body, headers=headers)


def _one_payment_per_device(app: Flask) -> None:
    app.extensions["risk_config"] = RiskConfig(device_daily_count=1, device_hourly_count=None)


# --- the browser's device cookie ------------------------------------------------------


def test_the_device_cookie_is_set_once_then_reused(pay_app: Flask, client: FlaskClient) -> None:
    web_signup(client)
    first = client.get("/wallet")
    assert first.status_code == 200
    (header,) = _device_cookies(first)
    value = header.split(";", 1)[0].split("=", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{32}", value)  # 128 random bits, nothing about the user
    attributes = header.lower()
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert "max-age=" in attributes and "secure" not in attributes  # plain http in tests
    for path in ("/wallet", "/pay/history", "/pay/scan"):
        again = client.get(path)
        assert again.status_code == 200 and _device_cookies(again) == []
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and cookie.value == value


def test_over_https_the_cookie_is_secure_and_a_forged_one_is_replaced(
    pay_app: Flask, client: FlaskClient
) -> None:
    web_signup(client)
    secure = client.get("/wallet", base_url="https://localhost")
    (header,) = _device_cookies(secure)
    assert "; secure" in header.lower()
    client.set_cookie(COOKIE, "not-one-we-issued", domain="localhost")
    replaced = client.get("/wallet")
    (fresh,) = _device_cookies(replaced)
    assert re.fullmatch(rf"{COOKIE}=[0-9a-f]{{32}}", fresh.split(";", 1)[0])


def _web_payer(app: Flask) -> tuple[FlaskClient, int]:
    client = app.test_client()
    email = web_signup(client)
    with app.app_context(), session_factory()() as db:
        user_id = int(db.scalars(select(User.id).where(User.email == email)).one())
    fund(app, user_id, "SOL", ONE_SOL)
    return client, user_id


def _web_pay(client: FlaskClient) -> str:
    """Quote and confirm through the pages; the page the confirm lands on."""
    token = csrf_from(client, "/pay/scan")
    quoted = client.post("/pay/quote", data={"code": UPI, "asset": "SOL", "csrf_token": token})
    assert quoted.status_code == 303, quoted.get_data(as_text=True)
    match = _QUOTE_URL.search(quoted.headers["Location"])
    assert match
    quote_id = match.group(1)
    token = csrf_from(client, f"/pay/quotes/{quote_id}")
    done = client.post(
        f"/pay/quotes/{quote_id}/confirm", data={"csrf_token": token}, follow_redirects=True
    )
    return done.get_data(as_text=True)


def test_two_accounts_in_one_browser_share_its_device_limit(pay_app: Flask) -> None:
    _one_payment_per_device(pay_app)
    alice, alice_id = _web_payer(pay_app)
    bob, bob_id = _web_payer(pay_app)
    alice.get("/wallet")
    shared = alice.get_cookie(COOKIE)
    assert shared is not None
    bob.set_cookie(COOKIE, shared.value, domain="localhost")  # Bob signs in on Alice's phone
    assert "limit_device" not in _web_pay(alice)
    assert _count(pay_app, Payment) == 1
    page = _web_pay(bob)
    assert "limit_device_day_count" in page
    assert _count(pay_app, Payment) == 1
    assert _available(pay_app, bob_id) == ONE_SOL  # nothing held for the refused payment
    # On his own phone Bob pays as usual.
    bob.set_cookie(COOKIE, "0" * 32, domain="localhost")
    assert "limit_device" not in _web_pay(bob)
    assert _count(pay_app, Payment) == 2
    assert alice_id != bob_id


# --- the API's X-Device-Id -----------------------------------------------------------


def test_two_api_users_on_one_device_hit_the_device_limit(
    pay_app: Flask, client: FlaskClient
) -> None:
    _one_payment_per_device(pay_app)
    alice_id, alice = signup(client)
    bob_id, bob = signup(client)
    for uid in (alice_id, bob_id):
        fund(pay_app, uid, "SOL", ONE_SOL)
    assert _api_pay(client, alice, DEVICE).status_code == 201
    refused = _api_pay(client, bob, DEVICE)
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert refused.get_json()["error"]["code"] == "limit_device_day_count"
    assert _available(pay_app, bob_id) == ONE_SOL
    assert _api_pay(client, bob, OTHER_DEVICE).status_code == 201
    assert _api_pay(client, bob, None).status_code == 201  # no header: no device limit
    assert _count(pay_app, Payment) == 3


def test_withdrawals_count_against_the_device_too(pay_app: Flask, client: FlaskClient) -> None:
    _one_payment_per_device(pay_app)
    alice_id, alice = signup(client)
    bob_id, bob = signup(client)
    for uid in (alice_id, bob_id):
        fund(pay_app, uid, "SOL", ONE_SOL)
    body = {"asset": "SOL", "address": SOL_DEST, "amount": "0.1"}
    first = client.post(
        "/api/v1/withdrawals", json=body, headers={**auth(alice, "a1"), "X-Device-Id": DEVICE}
    )
    assert first.status_code == 201, first.get_data(as_text=True)
    second = client.post(
        "/api/v1/withdrawals", json=body, headers={**auth(bob, "b1"), "X-Device-Id": DEVICE}
    )
    assert second.status_code == 403
    assert second.get_json()["error"]["code"] == "limit_device_day_count"
    assert _count(pay_app, Withdrawal) == 1 and _available(pay_app, bob_id) == ONE_SOL


@pytest.mark.parametrize(
    "bad",
    ["short", "x" * 129, "has space in the id 1", "semi;colon-device-0001", "ünïcode-device-01"],
)
def test_a_bad_device_header_is_refused_and_changes_nothing(
    pay_app: Flask, client: FlaskClient, bad: str
) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    quote_id = _api_quote(client, token)
    body = {"quote_id": quote_id, "source": "custodial"}
    headers = {**auth(token, "k1"), "X-Device-Id": bad}
    resp = client.post("/api/v1/payments", json=body, headers=headers)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "invalid_device_id"
    w = client.post(
        "/api/v1/withdrawals",
        json={"asset": "SOL", "address": SOL_DEST, "amount": "0.1"},
        headers={**auth(token, "k2"), "X-Device-Id": bad},
    )
    assert w.status_code == 400 and w.get_json()["error"]["code"] == "invalid_device_id"
    assert _count(pay_app, Payment) == 0 and _count(pay_app, Withdrawal) == 0
    assert _count(pay_app, IdempotencyKey) == 0  # refused before the key was claimed
    assert _available(pay_app, user_id) == ONE_SOL
    # The same key with a good header now goes through.
    ok = client.post(
        "/api/v1/payments", json=body, headers={**auth(token, "k1"), "X-Device-Id": DEVICE}
    )
    assert ok.status_code == 201, ok.get_data(as_text=True)


def test_the_openapi_document_describes_the_header(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/payments", "/withdrawals"):
        params = spec["paths"][path]["post"]["parameters"]
        (device,) = [p for p in params if p["name"] == "X-Device-Id"]
        assert device["in"] == "header" and device["required"] is False
        assert device["schema"]["maxLength"] == 128
    post_withdrawal = spec["paths"]["/withdrawals"]["post"]["responses"]
    assert "202" in post_withdrawal
    assert "X-Device-Id" not in str(spec["paths"]["/quotes"])


# --- parked withdrawals ---------------------------------------------------------------


def _parked_via_api(pay_app: Flask, client: FlaskClient) -> tuple[int, str, int]:
    _load_sanctions(pay_app)
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    body = {"asset": "SOL", "address": SANCTIONED_SOL, "amount": "0.1"}
    resp = client.post("/api/v1/withdrawals", json=body, headers=auth(token, "w1"))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    out = resp.get_json()
    assert (out["status"], out["status_text"]) == ("held_for_review", "under review")
    replay = client.post("/api/v1/withdrawals", json=body, headers=auth(token, "w1"))
    assert replay.status_code == 202 and replay.get_json()["id"] == out["id"]
    return user_id, token, int(out["id"])


def test_a_parked_withdrawal_is_visible_to_the_payer_and_in_the_queue(
    pay_app: Flask, client: FlaskClient
) -> None:
    user_id, token, wid = _parked_via_api(pay_app, client)
    got = client.get(f"/api/v1/withdrawals/{wid}", headers=auth(token))
    assert got.status_code == 200 and got.get_json()["status"] == "held_for_review"
    assert _available(pay_app, user_id) == ONE_SOL - ONE_SOL // 10
    assert _count(pay_app, Withdrawal) == 1

    # The payer's history page (cookie session) shows it under review.
    web = pay_app.test_client()
    with pay_app.app_context(), session_factory()() as db:
        email = db.get_one(User, user_id).email
    token_csrf = csrf_from(web, "/login")
    web.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token_csrf})
    history = web.get("/pay/history").get_data(as_text=True)
    match = re.search(rf'id="withdrawal-{wid}".*?</li>', history, re.S)
    assert match and "Under review" in match.group(0)

    admin, _user, _m = signed_in(pay_app, Role.ADMIN)
    queue = admin.get("/admin/review").get_data(as_text=True)
    block = re.search(rf'id="withdrawal-{wid}".*?</form>', queue, re.S)
    assert block and "sanctions_hit" in block.group(0) and SANCTIONED_SOL in block.group(0)
    assert 'id="held-count">1<' in admin.get("/admin/").get_data(as_text=True)


def test_an_admin_rejects_it_and_the_coins_come_back(pay_app: Flask, client: FlaskClient) -> None:
    user_id, token, wid = _parked_via_api(pay_app, client)
    admin, admin_user, _m = signed_in(pay_app, Role.ADMIN)
    no_csrf = admin.post(
        f"/admin/review/withdrawals/{wid}/action",
        data={"action": "withdrawal.reject", "reason": "sanctioned destination"},
    )
    assert no_csrf.status_code == 403
    page = admin.post(
        f"/admin/review/withdrawals/{wid}/action",
        data={
            "action": "withdrawal.reject",
            "reason": "sanctioned destination",
            "csrf_token": csrf(admin, "/admin/review"),
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Rejected; the coins are back" in page and f'id="withdrawal-{wid}"' not in page
    got = client.get(f"/api/v1/withdrawals/{wid}", headers=auth(token)).get_json()
    assert got["status"] == "rejected" and "back on your balance" in got["status_text"]
    assert _available(pay_app, user_id) == ONE_SOL
    with pay_app.app_context(), session_factory()() as db:
        assert get_balance(db, user_wallet(user_id, "SOL")).held == 0
        check_invariants(db)
        audit = trail(db, "withdrawal", wid)
    assert [a.action for a in audit] == ["withdrawal.held_for_review", "withdrawal.review_rejected"]
    assert audit[-1].actor == f"admin:{admin_user.id}"
    again = admin.post(
        f"/admin/review/withdrawals/{wid}/action",
        data={
            "action": "withdrawal.release",
            "reason": "oops",
            "csrf_token": csrf(admin, "/admin/review"),
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "not held for review" in again
    with pay_app.app_context(), session_factory()() as db:
        assert db.get_one(Withdrawal, wid).status is WithdrawalStatus.REJECTED


def test_an_admin_approves_it_into_the_signers_queue(pay_app: Flask, client: FlaskClient) -> None:
    user_id, token, wid = _parked_via_api(pay_app, client)  # 0.1 SOL = ₹1,400: one admin
    admin, _admin_user, _m = signed_in(pay_app, Role.ADMIN)
    admin.post(
        f"/admin/review/withdrawals/{wid}/action",
        data={
            "action": "withdrawal.release",
            "reason": "false positive",
            "csrf_token": csrf(admin, "/admin/review"),
        },
    )
    got = client.get(f"/api/v1/withdrawals/{wid}", headers=auth(token)).get_json()
    assert (got["status"], got["status_text"]) == ("held", "queued to send")
    assert _available(pay_app, user_id) == ONE_SOL - ONE_SOL // 10  # still held for the signer


def _pwa_withdraw(client: FlaskClient, address: str) -> str:
    token = csrf_from(client, "/pay/withdraw")
    confirm = client.post(
        "/pay/withdraw",
        data={"asset": "SOL", "address": address, "amount": "0.1", "csrf_token": token},
    ).get_data(as_text=True)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', confirm))
    done = client.post("/pay/withdraw/confirm", data=fields)
    assert done.status_code == 200, done.get_data(as_text=True)
    return done.get_data(as_text=True)


def test_the_pwa_says_under_review_and_counts_the_browsers_device(pay_app: Flask) -> None:
    _load_sanctions(pay_app)
    client, user_id = _web_payer(pay_app)
    assert "Under review" not in _pwa_withdraw(client, SOL_DEST)
    with pay_app.app_context(), session_factory()() as db:
        scopes = db.scalars(select(LimitCounter.scope)).all()
    assert sorted(set(scopes)) == ["device", "global", "user", "withdrawal"]
    page = _pwa_withdraw(client, SANCTIONED_SOL)
    assert "Under review" in page and "held_for_review" in page and "sanction" not in page
    assert _available(pay_app, user_id) == ONE_SOL - 2 * (ONE_SOL // 10)
    with pay_app.app_context(), session_factory()() as db:
        statuses = sorted(w.status.value for w in db.scalars(select(Withdrawal)))
    assert statuses == ["held", "held_for_review"]
