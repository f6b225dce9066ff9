"""Merchant dashboard pages: access, isolation, CSRF, QR codes, payments, CSV, soundbox."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import Flask

from tests.merchant.support import PATHS, csrf, db, make_payment, new_merchant, signed_in
from wallet.db.base import utcnow
from wallet.db.models import PaymentStatus, PayoutStatus, Role
from wallet.merchants import links
from wallet.merchants.config import MerchantConfig
from wallet.merchants.models import LinkStatus, PaymentLink
from wallet.merchants.queries import IST
from wallet.payments.transitions import transition

PAGES = [
    "/merchant/",
    "/merchant/payments",
    "/merchant/qr",
    "/merchant/soundbox",
    "/merchant/profile",
    "/merchant/webhooks",
    "/merchant/api-keys",
]


def test_every_page_renders_for_its_merchant(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    assert merchant is not None
    payment = make_payment(app, merchant, payout=(PayoutStatus.PROCESSED, "UTR0001"))
    for path in [*PAGES, f"/merchant/payments/{payment.id}"]:
        resp = client.get(path)
        assert resp.status_code == 200, path
    detail = client.get(f"/merchant/payments/{payment.id}").get_data(as_text=True)
    assert "UTR0001" in detail and "processed" in detail and "test: completed" in detail


@pytest.mark.parametrize("role", [Role.PAYER, Role.ADMIN])
def test_other_roles_get_404(app: Flask, role: Role) -> None:
    client, _user, _m = signed_in(app, role)
    for path in PAGES:
        assert client.get(path).status_code == 404, path


def test_anonymous_is_sent_to_sign_in(app: Flask) -> None:
    resp = app.test_client().get("/merchant/payments")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_merchant_without_profile_goes_to_setup(app: Flask) -> None:
    from tests.merchant.support import login, new_user

    user = new_user(app, Role.MERCHANT)
    client = app.test_client()
    login(client, user.email)
    resp = client.get("/merchant/payments")
    assert resp.status_code == 302 and "/merchant/setup" in resp.headers["Location"]


def test_a_merchant_cannot_see_another_merchants_data_or_admin(app: Flask) -> None:
    client, _user, mine = signed_in(app)
    _other_user, other = new_merchant(app, name="Other Shop")
    theirs = make_payment(app, other, amount_paise=77_700)
    ours = make_payment(app, mine, amount_paise=12_300)
    assert client.get(f"/merchant/payments/{theirs.id}").status_code == 404
    listing = client.get("/merchant/payments").get_data(as_text=True)
    assert "₹123" in listing and "₹777" not in listing
    exported = client.get("/merchant/payments.csv").get_data(as_text=True)
    assert ours.id in exported and theirs.id not in exported
    with db(app) as session:
        their_link = links.create_link(
            session,
            session.get_one(type(other), other.id),
            amount_paise=5_000,
            note=None,
            expires_in=600,
            now=utcnow(),
            config=MerchantConfig(),
            actor="test",
        )
    assert client.get(f"/merchant/links/{their_link.id}").status_code == 404
    token = csrf(client, "/merchant/qr")
    resp = client.post(f"/merchant/links/{their_link.id}/cancel", data={"csrf_token": token})
    assert resp.status_code == 404
    for path in ("/admin/", "/admin/payments", f"/admin/payments/{theirs.id}", "/admin/review"):
        assert client.get(path).status_code == 404, path


def test_actions_need_the_csrf_token(app: Flask) -> None:
    client, _user, _m = signed_in(app)
    for path, data in [
        ("/merchant/links", {"amount": "250"}),
        ("/merchant/profile", {"display_name": "Evil"}),
        ("/merchant/webhooks", {"url": "http://127.0.0.1:9/x"}),
        ("/merchant/api-keys", {"name": "x", "scopes": "payments:read"}),
    ]:
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 403


def test_dynamic_qr_lifecycle(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    token = csrf(client, "/merchant/qr")
    resp = client.post(
        "/merchant/links",
        data={"amount": "250", "note": "Table 4", "expires_in": "1h", "csrf_token": token},
    )
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "₹250" in page and "Table 4" in page and "<svg" in page
    with db(app) as session:
        link = session.query(PaymentLink).one()
        assert link.amount_paise == 25_000 and link.status is LinkStatus.ACTIVE
        assert timedelta(minutes=59) < link.expires_at - link.created_at <= timedelta(hours=1)
    public = app.test_client()
    landing = public.get(f"/m/{link.id}")
    assert landing.status_code == 200 and "₹250" in landing.get_data(as_text=True)
    qr = public.get(f"/m/{link.id}/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    # The payer flow resolves the link through the registered resolver.
    resolver = app.extensions["merchant_links"]
    with db(app) as session:
        payee = resolver(session, link.id)
    assert payee is not None and payee.amount_paise == 25_000 and payee.vpa == merchant.upi_vpa
    # Single use: once consumed by a payment, the link no longer resolves.
    payment = make_payment(app, merchant, PaymentStatus.QUOTE_ISSUED)
    with db(app) as session:
        links.consume_link(session, link.id, payment.id, now=utcnow())
        assert resolver(session, link.id) is None
    assert public.get(f"/m/{link.id}").status_code == 410


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"amount": "0", "expires_in": "15m"}, "amount"),
        ({"amount": "12.345", "expires_in": "15m"}, "amount"),
        ({"amount": "250", "expires_in": "99y"}, "expiry"),
        ({"amount": "250", "expires_in": "15m", "note": "a\u202eb"}, "control"),
    ],
)
def test_bad_link_input_changes_nothing(app: Flask, form: dict[str, str], message: str) -> None:
    client, _user, _m = signed_in(app)
    token = csrf(client, "/merchant/qr")
    resp = client.post("/merchant/links", data={**form, "csrf_token": token}, follow_redirects=True)
    assert message in resp.get_data(as_text=True).lower()
    with db(app) as session:
        assert session.query(PaymentLink).count() == 0


def test_static_sticker_encodes_the_upi_intent(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    assert merchant is not None
    svg = client.get("/merchant/qr/sticker.svg").get_data(as_text=True)
    assert merchant.display_name in svg and merchant.upi_vpa in svg and svg.startswith("<svg")
    png = client.get("/merchant/qr/sticker.png").get_data()
    assert png.startswith(b"\x89PNG")


def test_payments_filters_search_and_csv(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    now = utcnow()
    done = make_payment(
        app,
        merchant,
        PaymentStatus.COMPLETED,
        amount_paise=25_050,
        payout=(PayoutStatus.PROCESSED, "UTR9999"),
    )
    held = make_payment(
        app, merchant, PaymentStatus.HELD_FOR_REVIEW, amount_paise=99_900, asset="ETH"
    )
    old = make_payment(app, merchant, PaymentStatus.COMPLETED, created_at=now - timedelta(days=40))

    def listed(query: str) -> str:
        resp = client.get(f"/merchant/payments?{query}")
        assert resp.status_code == 200
        return resp.get_data(as_text=True)

    by_status = listed("status=held_for_review")
    assert held.id[:8] in by_status and done.id[:8] not in by_status
    by_asset = listed("asset=eth")
    assert held.id[:8] in by_asset and done.id[:8] not in by_asset
    today = now.astimezone(IST).date().isoformat()
    recent = listed(f"from={today}&to={today}")
    assert old.id[:8] not in recent and done.id[:8] in recent
    by_utr = listed("q=UTR9999")
    assert done.id[:8] in by_utr and held.id[:8] not in by_utr
    assert client.get("/merchant/payments?status=bogus").status_code == 400

    resp = client.get("/merchant/payments.csv?status=completed")
    assert resp.mimetype == "text/csv" and "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert {r["payment_id"] for r in rows} == {done.id, old.id}
    line = next(r for r in rows if r["payment_id"] == done.id)
    assert line["amount_inr"] == "250.50" and line["utr"] == "UTR9999"
    assert line["payout_status"] == "processed" and line["asset"] == "SOL"
    assert line["amount_crypto"] == "1"


def test_dashboard_totals_count_only_received_payments(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    make_payment(app, merchant, PaymentStatus.COMPLETED, amount_paise=10_000)
    make_payment(app, merchant, PaymentStatus.SETTLING, amount_paise=5_000)
    make_payment(app, merchant, PaymentStatus.AWAITING_FUNDS, amount_paise=70_000)
    page = client.get("/merchant/").get_data(as_text=True)
    assert 'id="today-total">₹150<' in page
    assert "<svg" in page and "Daily volume" in page


def test_soundbox_feed_announces_each_arrival_once(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    start = client.get("/merchant/soundbox/feed").get_json()
    assert start["payments"] == []
    cursor = start["cursor"]
    waiting = make_payment(app, merchant, PaymentStatus.AWAITING_FUNDS, amount_paise=25_000)
    make_payment(app, merchant, PaymentStatus.QUOTE_ISSUED, amount_paise=1_000)
    assert client.get(f"/merchant/soundbox/feed?after={cursor}").get_json()["payments"] == []
    with db(app) as session:
        for step in PATHS[PaymentStatus.CONFIRMED][1:]:
            transition(session, waiting.id, step, "arrived", actor="test")
    body = client.get(f"/merchant/soundbox/feed?after={cursor}").get_json()
    assert [p["rupees"] for p in body["payments"]] == ["250"]
    assert body["payments"][0]["payment_id"] == waiting.id
    again = client.get(f"/merchant/soundbox/feed?after={body['cursor']}").get_json()
    assert again["payments"] == []
    # Another merchant's arrival is not announced here.
    _u, other = new_merchant(app, name="Next Door")
    make_payment(app, other, PaymentStatus.CONFIRMED)
    assert (
        client.get(f"/merchant/soundbox/feed?after={body['cursor']}").get_json()["payments"] == []
    )
