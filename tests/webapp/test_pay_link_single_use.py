"""Single-use dynamic QR links (issue 8) through the payer API: the quote carries the
link, the payment consumes it in its own transaction, and a second payment on the
same link is refused with ``link_unavailable`` and changes nothing."""

from __future__ import annotations

import uuid

from flask import Flask
from flask.testing import FlaskClient

from tests.webapp.conftest import csrf_from, web_signup
from tests.webapp.pay_support import auth, fund, market, pay_app, signup
from wallet.db.base import utcnow
from wallet.db.models import Payment, Quote, Role, User
from wallet.ledger import get_balance, user_wallet
from wallet.merchants import links, profile
from wallet.merchants.config import MerchantConfig
from wallet.merchants.models import LinkStatus, PaymentLink
from webapp.extensions import session_factory

__all__ = ["market", "pay_app"]  # fixtures
ONE_SOL = 1_000_000_000


def _link(app: Flask) -> str:
    with app.app_context(), session_factory()() as db, db.begin():
        owner = User(email=f"shop-{uuid.uuid4().hex[:8]}@example.com", password_hash="x",
                     role=Role.MERCHANT)  # fmt: skip
        db.add(owner)
        db.flush()
        check = profile.VpaCheck("ramu.chai@okaxis", "Ramu Kumar", "fa_test")
        merchant = profile.create_profile(db, owner, "Ramu Chai Stall", check, now=utcnow())
        link = links.create_link(
            db, merchant, amount_paise=2_500, note=None, expires_in=600, now=utcnow(),
            config=MerchantConfig(), actor="test",
        )  # fmt: skip
        return link.id


def _quote(client: FlaskClient, token: str, link_id: str) -> dict[str, object]:
    resp = client.post(
        "/api/v1/quotes",
        json={"merchant_link": f"http://localhost/m/{link_id}", "asset": "SOL"},
        headers=auth(token),
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body: dict[str, object] = resp.get_json()
    return body


def _pay(client: FlaskClient, token: str, quote_id: object) -> tuple[int, dict[str, object]]:
    resp = client.post(
        "/api/v1/payments",
        json={"quote_id": quote_id, "source": "custodial"},
        headers=auth(token, str(uuid.uuid4())),
    )
    return resp.status_code, resp.get_json()


def test_a_link_pays_once_and_a_second_payment_is_refused(pay_app: Flask) -> None:
    client = pay_app.test_client()
    link_id = _link(pay_app)
    first_uid, first = signup(client)
    second_uid, second = signup(client)
    for uid in (first_uid, second_uid):
        fund(pay_app, uid, "SOL", ONE_SOL)
    # Both payers scan the live link and get quotes carrying it.
    q1, q2 = _quote(client, first, link_id), _quote(client, second, link_id)
    with pay_app.app_context(), session_factory()() as db:
        assert db.get_one(Quote, q1["id"]).merchant_link_id == link_id

    status, paid = _pay(client, first, q1["id"])
    assert status == 201, paid
    status, again = _pay(client, second, q2["id"])
    assert status == 410
    assert again["error"]["code"] == "link_unavailable"  # type: ignore[index]

    with pay_app.app_context(), session_factory()() as db:
        link = db.get_one(PaymentLink, link_id)
        assert link.status is LinkStatus.USED and link.payment_id == paid["id"]
        # The refused payment left nothing: no payment row, no hold on the balance.
        assert db.query(Payment).filter(Payment.quote_id == q2["id"]).count() == 0
        assert get_balance(db, user_wallet(second_uid, "SOL")).available == ONE_SOL
    # The used link no longer resolves for a new quote either.
    resp = client.post(
        "/api/v1/quotes",
        json={"merchant_link": f"http://localhost/m/{link_id}", "asset": "SOL"},
        headers=auth(second),
    )
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "merchant_link_not_found"
    # Retrying the first payment is idempotent: same payment, link still its own.
    status, retried = _pay(client, first, q1["id"])
    assert status in (200, 201) and retried["id"] == paid["id"]


def test_a_requote_keeps_the_link_so_it_is_still_consumed(pay_app: Flask) -> None:
    client = pay_app.test_client()
    link_id = _link(pay_app)
    web_signup(client)
    token = csrf_from(client, "/pay/scan")
    code = f"http://localhost/m/{link_id}"
    resp = client.post("/pay/quote", data={"code": code, "asset": "SOL", "csrf_token": token})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    first_id = resp.headers["Location"].rsplit("/", 1)[1]
    resp = client.post(f"/pay/quotes/{first_id}/requote", data={"csrf_token": token})
    assert resp.status_code == 303
    second_id = resp.headers["Location"].rsplit("/", 1)[1]
    assert second_id != first_id
    with pay_app.app_context(), session_factory()() as db:
        assert db.get_one(Quote, first_id).merchant_link_id == link_id
        assert db.get_one(Quote, second_id).merchant_link_id == link_id
