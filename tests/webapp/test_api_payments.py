"""The payer flow over the REST API: quotes, payments, deposit addresses, withdrawals.

Real quote maths over fixed order books, the real ledger and state machine
on SQLite, the real Idempotency-Key handling; every refusal is checked to
change nothing.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.webapp.conftest import csrf_from, web_signup
from tests.webapp.pay_support import (
    STATIC_UPI,
    UPI,
    VPA,
    PriceBoard,
    auth,
    fund,
    market,
    pay_app,
    signup,
)
from wallet.assets import ChainFamily
from wallet.chains.networks import NetworkKind
from wallet.custody.addresses import fill_solana_pool
from wallet.custody.kms import LocalKeyManager
from wallet.custody.models import Withdrawal
from wallet.custody.vault import SeedVault
from wallet.db.models.payments import Payment
from wallet.db.models.settlement import (
    Payout,
    PayoutStatus,
    Settlement,
    SettlementAttempt,
    SettlementStatus,
)
from wallet.db.models.users import WalletAddress
from wallet.devkeys import master_key
from wallet.ledger import get_balance, user_wallet
from wallet.payments.states import PaymentStatus
from wallet.payments.transitions import transition
from webapp.extensions import session_factory, settings

__all__ = ["market", "pay_app"]  # fixtures

ONE_SOL = 1_000_000_000


@pytest.fixture
def client(pay_app: Flask) -> FlaskClient:
    return pay_app.test_client()


def _count(app: Flask, model: type[Any]) -> int:
    with app.app_context(), session_factory()() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _available(app: Flask, user_id: int, asset: str) -> int:
    with app.app_context(), session_factory()() as db:
        return get_balance(db, user_wallet(user_id, asset)).available


def _quote(client: FlaskClient, token: str, **body: Any) -> Any:
    payload = {"upi_uri": UPI, "asset": "SOL", **body}
    return client.post("/api/v1/quotes", json=payload, headers=auth(token))


def _pay(
    client: FlaskClient, token: str, quote_id: str, key: str | None = None, **body: Any
) -> Any:
    payload = {"quote_id": quote_id, "source": "custodial", **body}
    return client.post("/api/v1/payments", json=payload, headers=auth(token, key))


def _strings_only(value: Any) -> None:
    """No JSON floats anywhere: amounts travel as strings."""
    if isinstance(value, float):
        raise AssertionError(f"float in response: {value}")
    if isinstance(value, dict):
        for v in value.values():
            _strings_only(v)
    if isinstance(value, list):
        for v in value:
            _strings_only(v)


# --- quotes ---------------------------------------------------------------------------


def test_a_quote_prices_the_code_in_the_asset_with_every_fee(client: FlaskClient) -> None:
    _uid, token = signup(client)
    resp = _quote(client, token)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    q = resp.get_json()
    _strings_only(q)
    assert q["asset"] == "SOL"
    assert q["amount_inr"] == "30.00" and q["amount_inr_minor"] == "3000"
    assert q["payee"] == {"vpa": VPA, "name": "Chai Stall"}
    minor = int(q["amount_minor"])
    # ₹30 plus fees at ₹14,000/SOL is a little over 0.00214 SOL, in lamports.
    assert 2_142_857 < minor < 2_300_000
    assert q["amount"] == f"0.{minor:09d}".rstrip("0")
    fees = q["fees"]
    parts = ("platform", "network", "buffer", "tds")
    assert int(fees["total_inr_minor"]) == sum(int(fees[f"{p}_inr_minor"]) for p in parts)
    assert int(fees["platform_inr_minor"]) == 30  # 1 % of ₹30
    assert 0 < q["expires_in"] <= 90
    assert q["status"] == "issued"


def test_a_static_qr_needs_the_amount_and_a_fixed_one_cannot_change(
    client: FlaskClient,
) -> None:
    _uid, token = signup(client)
    missing = _quote(client, token, upi_uri=STATIC_UPI)
    assert missing.status_code == 400
    assert missing.get_json()["error"]["code"] == "amount_required"
    typed = _quote(client, token, upi_uri=STATIC_UPI, amount_inr="45.5")
    assert typed.status_code == 201
    assert typed.get_json()["amount_inr_minor"] == "4550"
    changed = _quote(client, token, amount_inr="31.00")
    assert changed.status_code == 400
    assert changed.get_json()["error"]["code"] == "amount_fixed_by_code"
    same = _quote(client, token, amount_inr="30")
    assert same.status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"upi_uri": UPI, "merchant_link": "http://localhost/m/abcdef", "asset": "SOL"},
            400,
            "validation_error",
        ),
        ({"asset": "SOL"}, 400, "validation_error"),
        ({"upi_uri": STATIC_UPI, "amount_inr": 30.5, "asset": "SOL"}, 400, "validation_error"),
        ({"upi_uri": UPI, "asset": "SOL", "rate": "1"}, 400, "validation_error"),
        ({"upi_uri": UPI, "asset": "XYZ"}, 400, "unknown_asset"),
        ({"upi_uri": UPI, "asset": "INR"}, 400, "unknown_asset"),
        ({"upi_uri": "upi://pay?pn=Nobody&am=1", "asset": "SOL"}, 400, "upi_missing_payee"),
        (
            {"upi_uri": "upi://pay?pa=x@okaxis&am=1&cu=USD", "asset": "SOL"},
            400,
            "upi_unsupported_currency",
        ),
        ({"upi_uri": "upi://pay?pa=bad vpa&am=1", "asset": "SOL"}, 400, "upi_invalid_vpa"),
        ({"upi_uri": STATIC_UPI, "amount_inr": "-1", "asset": "SOL"}, 400, "upi_invalid_amount"),
        ({"upi_uri": STATIC_UPI, "amount_inr": "0.50", "asset": "SOL"}, 400, "invalid_amount"),
        (
            {"merchant_link": "http://localhost/m/abcdef123", "asset": "SOL"},
            404,
            "merchant_link_not_found",
        ),
    ],
)
def test_quote_refusals_have_stable_codes_and_store_nothing(
    pay_app: Flask, client: FlaskClient, body: dict[str, Any], status: int, code: str
) -> None:
    from wallet.db.models.payments import Quote

    _uid, token = signup(client)
    resp = client.post("/api/v1/quotes", json=body, headers=auth(token))
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == code
    assert _count(pay_app, Quote) == 0


def test_no_fresh_rate_means_no_quote(
    pay_app: Flask, client: FlaskClient, market: PriceBoard
) -> None:
    _uid, token = signup(client)
    del market.prices["SOL"]
    resp = _quote(client, token)
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "rate_stale"


def test_quotes_need_a_caller_and_cookie_calls_need_csrf(pay_app: Flask) -> None:
    anonymous = pay_app.test_client()
    resp = anonymous.post("/api/v1/quotes", json={"upi_uri": UPI, "asset": "SOL"})
    assert resp.status_code == 401
    browser = pay_app.test_client()
    web_signup(browser)
    forged = browser.post("/api/v1/quotes", json={"upi_uri": UPI, "asset": "SOL"})
    assert forged.status_code == 403
    token = csrf_from(browser, "/pay/scan")
    ok = browser.post(
        "/api/v1/quotes", json={"upi_uri": UPI, "asset": "SOL"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 201


# --- payments -------------------------------------------------------------------------


def test_a_custodial_payment_holds_the_coins_and_is_confirmed_at_once(
    pay_app: Flask, client: FlaskClient
) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    q = _quote(client, token).get_json()
    resp = _pay(client, token, q["id"], key="pay-1")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    p = resp.get_json()
    _strings_only(p)
    assert p["status"] == "confirmed" and p["vendor_paid"] is False
    assert p["amount_minor"] == q["amount_minor"] and p["amount_inr"] == "30.00"
    assert [s["status"] for s in p["timeline"]] == [
        "quote_issued",
        "awaiting_funds",
        "detected",
        "confirmed",
    ]
    assert p["payout"] == {"status": "not_started", "utr": None}
    assert p["pay_to"] is None
    assert _available(pay_app, user_id, "SOL") == ONE_SOL - int(q["amount_minor"])
    fetched = client.get(f"/api/v1/payments/{p['id']}", headers=auth(token))
    assert fetched.status_code == 200
    assert fetched.get_json()["id"] == p["id"]


def test_idempotency_key_replays_refuses_a_changed_body_and_pays_once(
    pay_app: Flask, client: FlaskClient
) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    q = _quote(client, token).get_json()
    first = _pay(client, token, q["id"], key="k-1")
    again = _pay(client, token, q["id"], key="k-1")
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    other = _pay(client, token, q["id"], key="k-1", source="external")
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    # Without a key, paying the same quote again returns the same payment (200).
    plain = _pay(client, token, q["id"])
    assert plain.status_code == 200
    assert plain.get_json()["id"] == first.get_json()["id"]
    assert _count(pay_app, Payment) == 1
    assert _available(pay_app, user_id, "SOL") == ONE_SOL - int(q["amount_minor"])


def test_insufficient_funds_changes_nothing(pay_app: Flask, client: FlaskClient) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", 1000)
    q = _quote(client, token).get_json()
    resp = _pay(client, token, q["id"], key="poor")
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "insufficient_funds"
    assert _count(pay_app, Payment) == 0
    assert _available(pay_app, user_id, "SOL") == 1000


def test_an_expired_quote_is_refused_before_any_funds_move(
    pay_app: Flask, client: FlaskClient, market: PriceBoard
) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    market.offset = -timedelta(seconds=120)  # priced two minutes ago: TTL 90 s
    q = _quote(client, token).get_json()
    assert q["expires_in"] == 0
    resp = _pay(client, token, q["id"], key="late")
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "quote_expired"
    assert _count(pay_app, Payment) == 0
    assert _available(pay_app, user_id, "SOL") == ONE_SOL


def test_another_users_quotes_and_payments_do_not_exist_for_you(
    pay_app: Flask, client: FlaskClient
) -> None:
    alice_id, alice = signup(client)
    _bob_id, bob = signup(client)
    fund(pay_app, alice_id, "SOL", ONE_SOL)
    q = _quote(client, alice).get_json()
    paid = _pay(client, alice, q["id"]).get_json()
    assert client.get(f"/api/v1/payments/{paid['id']}", headers=auth(bob)).status_code == 404
    assert client.get(f"/api/v1/quotes/{q['id']}", headers=auth(bob)).status_code == 404
    stolen = _pay(client, bob, q["id"])
    assert stolen.status_code == 404
    assert stolen.get_json()["error"]["code"] == "quote_not_found"
    assert client.get("/api/v1/payments", headers=auth(bob)).get_json()["payments"] == []
    missing = client.get(f"/api/v1/payments/{uuid.uuid4()}", headers=auth(alice))
    assert missing.status_code == 404


def test_a_custodial_payment_requests_settlement_without_waiting_for_it(
    pay_app: Flask, client: FlaskClient
) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    called: list[str] = []
    done = threading.Event()
    release = threading.Event()

    def settle_now(payment_id: str) -> None:
        called.append(payment_id)
        done.set()
        release.wait(5)  # a slow submission must not hold the request
        raise RuntimeError("dagster is down")  # nor may its failure surface

    pay_app.extensions["settle_now"] = settle_now
    q = _quote(client, token).get_json()
    resp = _pay(client, token, q["id"], key="now")
    assert resp.status_code == 201
    assert done.wait(5)
    release.set()
    assert called == [resp.get_json()["id"]]
    # A replay is not a new payment: no second request.
    _pay(client, token, q["id"])
    assert called == [resp.get_json()["id"]]


def _settle_by_hand(app: Flask, payment_id: str, utr: str) -> None:
    """What settlement records when RazorpayX reports the payout processed."""
    with app.app_context(), session_factory()() as db, db.begin():
        transition(db, payment_id, PaymentStatus.SETTLING, "test settles", actor="test")
        settlement = Settlement(payment_id=payment_id, status=SettlementStatus.IN_PROGRESS)
        db.add(settlement)
        db.flush()
        attempt = SettlementAttempt(id=str(uuid.uuid4()), settlement_id=settlement.id, attempt_no=1)
        db.add(attempt)
        db.flush()
        db.add(
            Payout(
                idempotency_key=attempt.id,
                attempt_id=attempt.id,
                payment_id=payment_id,
                amount_paise=3000,
                vpa=VPA,
                status=PayoutStatus.PROCESSED,
                utr=utr,
            )
        )
        transition(db, payment_id, PaymentStatus.PAID_OUT, "payout processed", actor="test")


def test_the_payment_shows_the_vendor_paid_with_the_utr(
    pay_app: Flask, client: FlaskClient
) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    q = _quote(client, token).get_json()
    pid = _pay(client, token, q["id"]).get_json()["id"]
    _settle_by_hand(pay_app, pid, "412345678901")
    p = client.get(f"/api/v1/payments/{pid}", headers=auth(token)).get_json()
    assert p["status"] == "paid_out" and p["vendor_paid"] is True
    assert p["payout"] == {"status": "processed", "utr": "412345678901"}
    assert [s["status"] for s in p["timeline"]][-2:] == ["settling", "paid_out"]


def test_payments_list_is_paginated_filtered_and_own(pay_app: Flask, client: FlaskClient) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    ids = []
    for _ in range(3):
        q = _quote(client, token).get_json()
        ids.append(_pay(client, token, q["id"]).get_json()["id"])
    page1 = client.get("/api/v1/payments?limit=2", headers=auth(token)).get_json()
    assert len(page1["payments"]) == 2 and page1["next_cursor"]
    page2 = client.get(
        f"/api/v1/payments?limit=2&cursor={page1['next_cursor']}", headers=auth(token)
    ).get_json()
    assert page2["next_cursor"] is None
    seen = [p["id"] for p in page1["payments"] + page2["payments"]]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == 3
    _settle_by_hand(pay_app, ids[0], "4000")
    paid = client.get("/api/v1/payments?status=paid", headers=auth(token)).get_json()
    assert [p["id"] for p in paid["payments"]] == [ids[0]]
    confirmed = client.get("/api/v1/payments?status=confirmed", headers=auth(token)).get_json()
    assert len(confirmed["payments"]) == 2
    eth = client.get("/api/v1/payments?asset=ETH", headers=auth(token)).get_json()
    assert eth["payments"] == []
    for query, code in (
        ("cursor=%%%", "invalid_cursor"),
        ("status=nope", "invalid_filter"),
        ("asset=XYZ", "unknown_asset"),
        ("limit=0", "bad_request"),
        ("limit=abc", "bad_request"),
    ):
        resp = client.get(f"/api/v1/payments?{query}", headers=auth(token))
        assert resp.status_code == 400, query
        assert resp.get_json()["error"]["code"] == code, query


# --- external payments and deposit addresses --------------------------------------------


def _seeds(app: Flask, *families: ChainFamily) -> SeedVault:
    with app.app_context():
        vault = SeedVault(LocalKeyManager(master_key(settings())), NetworkKind.SANDBOX)
        with session_factory()() as db, db.begin():
            for family in families:
                vault.create_seed(db, family)
            if ChainFamily.SOLANA in families:
                fill_solana_pool(db, vault, 3)
    return vault


def test_an_external_payment_answers_with_a_fresh_address_and_a_solana_pay_link(
    pay_app: Flask, client: FlaskClient
) -> None:
    _seeds(pay_app, ChainFamily.SOLANA)
    _uid, token = signup(client)
    q = _quote(client, token).get_json()
    resp = _pay(client, token, q["id"], key="ext", source="external")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    p = resp.get_json()
    assert p["status"] == "awaiting_funds"
    pay_to = p["pay_to"]
    assert pay_to["amount_minor"] == q["amount_minor"]
    assert pay_to["uri"].startswith(f"solana:{pay_to['address']}?amount={pay_to['amount']}")
    with pay_app.app_context(), session_factory()() as db:
        row = db.scalars(
            select(WalletAddress).where(WalletAddress.address == pay_to["address"])
        ).one()
        assert row.purpose.value == "deposit" and row.user_id == _uid


def test_deposit_address_is_stable_per_chain_with_a_payment_link(
    pay_app: Flask, client: FlaskClient
) -> None:
    _seeds(pay_app, ChainFamily.EVM, ChainFamily.UTXO)
    _uid, token = signup(client)
    eth = client.get("/api/v1/wallet/deposit-address?asset=ETH", headers=auth(token))
    assert eth.status_code == 200, eth.get_data(as_text=True)
    body = eth.get_json()
    assert body["asset"] == "ETH" and body["chain"] == "ethereum"
    assert body["address"].startswith("0x") and len(body["address"]) == 42
    assert body["uri"] == f"ethereum:{body['address']}@31337?value=0"
    again = client.get("/api/v1/wallet/deposit-address?asset=USDC", headers=auth(token)).get_json()
    assert again["address"] == body["address"]  # ERC-20s share the account's address
    assert again["uri"].endswith(f"/transfer?address={body['address']}&uint256=0")
    btc = client.get("/api/v1/wallet/deposit-address?asset=BTC", headers=auth(token)).get_json()
    assert btc["address"].startswith("bcrt1") and btc["uri"].startswith("bitcoin:" + btc["address"])
    _other_id, other = signup(client)
    theirs = client.get("/api/v1/wallet/deposit-address?asset=ETH", headers=auth(other)).get_json()
    assert theirs["address"] != body["address"]
    for query, code in (("asset=XYZ", "unknown_asset"), ("", "bad_request")):
        resp = client.get(f"/api/v1/wallet/deposit-address?{query}", headers=auth(token))
        assert resp.status_code == 400
        assert resp.get_json()["error"]["code"] == code


# --- withdrawals ------------------------------------------------------------------------

SOL_DEST = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"


def test_a_withdrawal_holds_the_amount_once_per_key(pay_app: Flask, client: FlaskClient) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    body = {"asset": "SOL", "address": SOL_DEST, "amount": "0.25"}
    first = client.post("/api/v1/withdrawals", json=body, headers=auth(token, "wd-1"))
    assert first.status_code == 201, first.get_data(as_text=True)
    w = first.get_json()
    assert w["status"] == "held" and w["amount_minor"] == "250000000" and w["amount"] == "0.25"
    replay = client.post("/api/v1/withdrawals", json=body, headers=auth(token, "wd-1"))
    assert replay.get_json() == w
    assert _count(pay_app, Withdrawal) == 1
    assert _available(pay_app, user_id, "SOL") == ONE_SOL - 250_000_000
    got = client.get(f"/api/v1/withdrawals/{w['id']}", headers=auth(token))
    assert got.status_code == 200
    _other_id, other = signup(client)
    assert client.get(f"/api/v1/withdrawals/{w['id']}", headers=auth(other)).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"asset": "SOL", "address": "not-base58!", "amount": "0.1"}, 400, "invalid_address"),
        ({"asset": "ETH", "address": "0x" + "12" * 20, "amount": "0.1"}, 409, "insufficient_funds"),
        ({"asset": "ETH", "address": "0x" + "0" * 40, "amount": "0.1"}, 400, "invalid_address"),
        ({"asset": "SOL", "address": SOL_DEST, "amount": "2"}, 409, "insufficient_funds"),
        ({"asset": "SOL", "address": SOL_DEST, "amount": "0.0000000001"}, 400, "invalid_amount"),
        ({"asset": "SOL", "address": SOL_DEST, "amount": "0"}, 400, "invalid_amount"),
        ({"asset": "SOL", "address": SOL_DEST, "amount": 1}, 400, "validation_error"),
        ({"asset": "INR", "address": SOL_DEST, "amount": "1"}, 400, "unknown_asset"),
    ],
)
def test_withdrawal_refusals_hold_nothing(
    pay_app: Flask, client: FlaskClient, body: dict[str, Any], status: int, code: str
) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    resp = client.post("/api/v1/withdrawals", json=body, headers=auth(token, "w"))
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == code
    assert _count(pay_app, Withdrawal) == 0
    assert _available(pay_app, user_id, "SOL") == ONE_SOL


def test_the_new_routes_are_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert {"post"} <= set(paths["/quotes"])
    assert {"get", "post"} <= set(paths["/payments"])
    assert "get" in paths["/payments/{payment_id}"]
    assert "get" in paths["/wallet/deposit-address"]
    assert "post" in paths["/withdrawals"]
    params = {p["name"] for p in paths["/payments"]["post"]["parameters"]}
    assert "Idempotency-Key" in params
    schema = spec["components"]["schemas"]["QuoteOut"]["properties"]
    assert schema["amount_minor"]["type"] == "string"


def test_with_the_settlement_worker_running_pay_now_launches_no_dagster_run(
    pay_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.pay import settle_now as pay_now

    launched: list[list[str]] = []
    monkeypatch.setattr(pay_now, "_dagster_submit", lambda: launched.append)
    monkeypatch.setattr(pay_app, "testing", False)  # the production wiring, not a test's own
    base = pay_app.extensions["settings"]
    for worker, expected in ((True, False), (False, True)):
        pay_app.extensions["settings"] = base.model_copy(update={"settlement_worker": worker})
        pay_app.extensions.pop("settle_now_queue", None)
        with pay_app.app_context():
            assert pay_now.kick_settlement("p-1") is expected
    pay_app.extensions["settings"] = base
