"""The payer's PWA pages through the Flask test client: scan → quote → confirm → status.

Forms carry the CSRF token; a forged form changes nothing. Another user's
quote or payment page is 404. Withdrawals need a recent password.
"""

from __future__ import annotations

import re
from datetime import timedelta

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
    fund,
    market,
    pay_app,
)
from tests.webapp.test_api_payments import SOL_DEST, _settle_by_hand
from wallet.accounts.models import UserSession
from wallet.custody.models import Withdrawal
from wallet.db.base import utcnow
from wallet.db.models.payments import Payment, Quote
from wallet.db.models.users import User
from wallet.ledger import get_balance, user_wallet
from webapp.extensions import session_factory

__all__ = ["market", "pay_app"]  # fixtures

ONE_SOL = 1_000_000_000
_QUOTE_URL = re.compile(r"/pay/quotes/([0-9a-f-]{36})$")
_PAYMENT_URL = re.compile(r"/pay/payments/([0-9a-f-]{36})$")


def _count(app: Flask, model: type) -> int:
    with app.app_context(), session_factory()() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _user_id(app: Flask, email: str) -> int:
    with app.app_context(), session_factory()() as db:
        return int(db.scalars(select(User.id).where(User.email == email)).one())


@pytest.fixture
def payer(pay_app: Flask) -> tuple[FlaskClient, int]:
    client = pay_app.test_client()
    email = web_signup(client)
    user_id = _user_id(pay_app, email)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    return client, user_id


def _start(client: FlaskClient, code: str = UPI) -> str:
    token = csrf_from(client, "/pay/scan")
    resp = client.post("/pay/start", data={"code": code, "csrf_token": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data(as_text=True)


def _quote(client: FlaskClient, asset: str = "SOL", **extra: str) -> str:
    token = csrf_from(client, "/pay/scan")
    data = {"code": UPI, "asset": asset, "csrf_token": token, **extra}
    resp = client.post("/pay/quote", data=data)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    match = _QUOTE_URL.search(resp.headers["Location"])
    assert match
    return match.group(1)


def _confirm(client: FlaskClient, quote_id: str, token: str | None = None) -> object:
    token = token if token is not None else csrf_from(client, f"/pay/quotes/{quote_id}")
    return client.post(f"/pay/quotes/{quote_id}/confirm", data={"csrf_token": token})


def test_the_payee_page_shows_who_how_much_and_each_coins_estimate(
    payer: tuple[FlaskClient, int],
) -> None:
    client, _uid = payer
    page = _start(client)
    assert "Chai Stall" in page and VPA in page and "₹30.00" in page
    # ₹30 at ₹14,000/SOL, before fees: 0.002142858 SOL (rounded up).
    assert "≈ 0.002142858" in page
    assert 'name="asset" value="SOL"' in page
    assert "<script>" not in page  # CSP-ready: external scripts only


def test_a_static_qr_asks_for_the_amount(payer: tuple[FlaskClient, int]) -> None:
    client, _uid = payer
    page = _start(client, STATIC_UPI)
    assert 'id="amount_inr"' in page
    token = csrf_from(client, "/pay/scan")
    missing = client.post(
        "/pay/quote", data={"code": STATIC_UPI, "asset": "SOL", "csrf_token": token}
    )
    assert missing.status_code == 400
    assert "amount_required" in missing.get_data(as_text=True)


def test_a_bad_code_re_renders_the_scan_page_with_its_code(payer: tuple[FlaskClient, int]) -> None:
    client, _uid = payer
    token = csrf_from(client, "/pay/scan")
    resp = client.post("/pay/start", data={"code": "upi://pay?pn=x", "csrf_token": token})
    assert resp.status_code == 400
    assert "upi_missing_payee" in resp.get_data(as_text=True)


def test_scan_quote_confirm_and_the_status_page(
    pay_app: Flask, payer: tuple[FlaskClient, int]
) -> None:
    client, user_id = payer
    quote_id = _quote(client)
    page = client.get(f"/pay/quotes/{quote_id}").get_data(as_text=True)
    assert 'id="countdown"' in page and 'id="confirm-form"' in page
    assert "Platform fee" in page and "₹0.30" in page
    resp = _confirm(client, quote_id)
    assert resp.status_code == 303
    match = _PAYMENT_URL.search(resp.headers["Location"])
    assert match
    status = client.get(match.group(1) and resp.headers["Location"]).get_data(as_text=True)
    assert "Coins confirmed" in status and 'data-api="/api/v1/payments/' in status
    with pay_app.app_context(), session_factory()() as db:
        bal = get_balance(db, user_wallet(user_id, "SOL"))
        quote = db.get(Quote, quote_id)
        assert quote is not None
        assert bal.available == ONE_SOL - quote.amount_minor
    _settle_by_hand(pay_app, match.group(1), "412345678901")
    paid = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Vendor paid ₹30.00" in paid and "UTR 412345678901" in paid


def test_a_forged_confirm_changes_nothing(pay_app: Flask, payer: tuple[FlaskClient, int]) -> None:
    client, _uid = payer
    quote_id = _quote(client)
    resp = _confirm(client, quote_id, token="forged")
    assert resp.status_code == 403
    no_token = client.post(f"/pay/quotes/{quote_id}/confirm", data={})
    assert no_token.status_code == 403
    assert _count(pay_app, Payment) == 0


def test_an_expired_quote_cannot_be_confirmed_and_can_be_renewed(
    pay_app: Flask, payer: tuple[FlaskClient, int], market: PriceBoard
) -> None:
    client, _uid = payer
    market.offset = -timedelta(seconds=120)
    quote_id = _quote(client)
    page = client.get(f"/pay/quotes/{quote_id}").get_data(as_text=True)
    assert 'id="confirm-form" hidden' in page
    resp = _confirm(client, quote_id)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(quote_id)
    assert "quote_expired" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert _count(pay_app, Payment) == 0
    market.offset = timedelta(0)
    token = csrf_from(client, f"/pay/quotes/{quote_id}")
    renewed = client.post(
        f"/pay/quotes/{quote_id}/requote", data={"csrf_token": token, "asset": "ETH"}
    )
    new_id = _QUOTE_URL.search(renewed.headers["Location"])
    assert new_id and new_id.group(1) != quote_id
    fresh = client.get(renewed.headers["Location"]).get_data(as_text=True)
    assert 'id="confirm-form"' in fresh and 'id="confirm-form" hidden' not in fresh
    assert '<span id="quote-asset">ETH</span>' in fresh


def test_other_users_quote_and_payment_pages_are_404(
    pay_app: Flask, payer: tuple[FlaskClient, int]
) -> None:
    client, _uid = payer
    quote_id = _quote(client)
    payment_url = _confirm(client, quote_id).headers["Location"]
    intruder = pay_app.test_client()
    web_signup(intruder)
    assert intruder.get(f"/pay/quotes/{quote_id}").status_code == 404
    assert intruder.get(payment_url).status_code == 404
    token = csrf_from(intruder, "/pay/scan")
    again = intruder.post(f"/pay/quotes/{quote_id}/confirm", data={"csrf_token": token})
    assert again.status_code == 404
    assert _count(pay_app, Payment) == 1
    anonymous = pay_app.test_client()
    assert anonymous.get(payment_url).status_code == 302  # to sign-in


def test_history_lists_own_payments_with_filters(
    pay_app: Flask, payer: tuple[FlaskClient, int]
) -> None:
    client, _uid = payer
    first = _confirm(client, _quote(client)).headers["Location"]
    _confirm(client, _quote(client))
    _settle_by_hand(pay_app, first.rsplit("/", 1)[1], "999")
    page = client.get("/pay/history").get_data(as_text=True)
    assert page.count('href="/pay/payments/') == 2
    paid = client.get("/pay/history?status=paid").get_data(as_text=True)
    assert paid.count('href="/pay/payments/') == 1 and first in paid
    eth = client.get("/pay/history?asset=ETH").get_data(as_text=True)
    assert eth.count('href="/pay/payments/') == 0


def test_home_shows_balances_with_rupee_value_and_activity(payer: tuple[FlaskClient, int]) -> None:
    client, _uid = payer
    _confirm(client, _quote(client))
    page = client.get("/wallet").get_data(as_text=True)
    row = re.search(r'data-asset="SOL">(.*?)</tr>', page, re.DOTALL)
    assert row, page
    # 1 SOL held partly for the payment; worth ₹14,000 at the cached rate.
    assert '<td class="amount">1<br>' in row.group(1) and "available 0.99" in row.group(1)
    assert "₹14000.00" in row.group(1)
    assert "Chai Stall" in page and "Coins confirmed" in page


def test_withdraw_needs_a_recent_password_and_a_confirmation(
    pay_app: Flask, payer: tuple[FlaskClient, int]
) -> None:
    client, user_id = payer
    token = csrf_from(client, "/pay/withdraw")
    review = client.post(
        "/pay/withdraw",
        data={"asset": "SOL", "address": SOL_DEST, "amount": "0.1", "csrf_token": token},
    )
    assert review.status_code == 200
    page = review.get_data(as_text=True)
    assert "Confirm withdrawal" in page and SOL_DEST in page
    assert _count(pay_app, Withdrawal) == 0  # reviewing holds nothing
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page))
    for _ in range(2):  # a double tap holds once
        done = client.post("/pay/withdraw/confirm", data=fields)
        assert done.status_code == 200, done.get_data(as_text=True)
    assert _count(pay_app, Withdrawal) == 1
    with pay_app.app_context(), session_factory()() as db:
        assert get_balance(db, user_wallet(user_id, "SOL")).available == ONE_SOL - 100_000_000
    # Ten minutes later the password is needed again.
    with pay_app.app_context(), session_factory()() as db, db.begin():
        for row in db.scalars(select(UserSession).where(UserSession.user_id == user_id)):
            row.authenticated_at = utcnow() - timedelta(minutes=10)
    stale = client.get("/pay/withdraw")
    assert stale.status_code == 302 and "/reauth" in stale.headers["Location"]
    fields["key"] = "another"
    blocked = client.post("/pay/withdraw/confirm", data=fields)
    assert blocked.status_code == 302 and "/reauth" in blocked.headers["Location"]
    assert _count(pay_app, Withdrawal) == 1


def test_a_bad_withdrawal_address_is_refused_on_review(payer: tuple[FlaskClient, int]) -> None:
    client, _uid = payer
    token = csrf_from(client, "/pay/withdraw")
    resp = client.post(
        "/pay/withdraw",
        data={"asset": "ETH", "address": "0x1234", "amount": "0.1", "csrf_token": token},
    )
    assert resp.status_code == 400
    assert "invalid_address" in resp.get_data(as_text=True)


def test_hindi_by_choice_or_by_browser(pay_app: Flask, payer: tuple[FlaskClient, int]) -> None:
    client, _uid = payer
    assert "Your wallet" in client.get("/wallet").get_data(as_text=True)
    token = csrf_from(client, "/wallet")
    switched = client.post("/lang", data={"lang": "hi", "next": "/wallet", "csrf_token": token})
    assert switched.status_code == 303 and switched.headers["Location"] == "/wallet"
    page = client.get("/wallet").get_data(as_text=True)
    assert "आपका वॉलेट" in page and 'lang="hi"' in page
    browser = pay_app.test_client()
    web_signup(browser)
    hindi = browser.get("/pay/scan", headers={"Accept-Language": "hi-IN,hi;q=0.9,en;q=0.5"})
    assert "कैमरा खोलें" in hindi.get_data(as_text=True)
    forged = browser.post("/lang", data={"lang": "hi"})
    assert forged.status_code == 403


def test_every_hindi_message_is_translated_and_compiled() -> None:
    from pathlib import Path

    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2] / "webapp" / "translations"
    with (root / "messages.pot").open("rb") as f:
        template = read_po(f)
    with (root / "hi" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        po = read_po(f)
    with (root / "hi" / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        mo = read_mo(f)
    wanted = {m.id for m in template if m.id}
    assert wanted and wanted <= {m.id for m in po if m.id and m.string}
    assert {m.id: m.string for m in po if m.id} == {m.id: m.string for m in mo if m.id}
