"""Payout VPA set-up and change against the RazorpayX stand-in (real HTTP on loopback)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from sandbox.razorpayx.testing import start_razorpayx, stop_razorpayx
from tests.merchant.support import csrf, db, fresh_sqlite, login, new_user, signed_in
from tests.webapp.conftest import settings_for
from wallet.audit import trail
from wallet.db.base import utcnow
from wallet.db.models import Merchant, MerchantStatus, OutboxMessage, Role
from wallet.merchants import profile
from wallet.merchants.models import MerchantPayoutAccount, PayoutAccountStatus
from webapp import create_app


@pytest.fixture(scope="module")
def razorpayx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    process, info = start_razorpayx(tmp_path_factory.mktemp("rzpx"))
    try:
        yield info
    finally:
        stop_razorpayx(process)


@pytest.fixture
def app(tmp_path: Path, razorpayx: dict[str, Any]) -> Iterator[Flask]:
    settings = settings_for(tmp_path, fresh_sqlite(tmp_path), **razorpayx["settings"])
    built = create_app(settings, TESTING=True)
    yield built
    built.extensions["engine"].dispose()


def test_setup_shows_the_registered_name_then_creates_the_shop(app: Flask) -> None:
    user = new_user(app, Role.MERCHANT)
    client = app.test_client()
    login(client, user.email)
    token = csrf(client, "/merchant/setup")
    form = {"display_name": "Ravi Tea", "vpa": "Ravi.Kumar@okaxis", "csrf_token": token}
    checked = client.post("/merchant/setup", data=form)
    page = checked.get_data(as_text=True)
    assert checked.status_code == 200 and 'id="registered-name">Ravi Kumar<' in page
    with db(app) as session:
        assert session.scalars(select(Merchant)).all() == []  # nothing until confirmed
    done = client.post("/merchant/setup", data={**form, "step": "confirm"})
    assert done.status_code == 302
    with db(app) as session:
        merchant = session.scalars(select(Merchant)).one()
        assert merchant.upi_vpa == "ravi.kumar@okaxis" and merchant.status is MerchantStatus.ACTIVE
        account = session.scalars(select(MerchantPayoutAccount)).one()
        assert account.registered_name == "Ravi Kumar" and account.fund_account_id


@pytest.mark.parametrize(
    ("vpa", "code_text"),
    [("not a vpa", "name@bank"), ("closed.invalid@okaxis", "does not exist")],
)
def test_setup_refuses_bad_vpas(app: Flask, vpa: str, code_text: str) -> None:
    user = new_user(app, Role.MERCHANT)
    client = app.test_client()
    login(client, user.email)
    token = csrf(client, "/merchant/setup")
    resp = client.post(
        "/merchant/setup",
        data={"display_name": "Shop", "vpa": vpa, "step": "confirm", "csrf_token": token},
    )
    assert resp.status_code == 400 and code_text in resp.get_data(as_text=True)
    with db(app) as session:
        assert session.scalars(select(Merchant)).all() == []


def test_vpa_change_needs_reauth_notifies_and_cools_off(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    assert merchant is not None
    old_vpa = merchant.upi_vpa
    with app.app_context():
        from webapp.extensions import session_factory

        factory = session_factory()
    # The password was typed too long ago: the change sends us to re-authenticate.
    with factory() as session, session.begin():
        from wallet.accounts.models import UserSession

        for row in session.scalars(select(UserSession)):
            row.authenticated_at = utcnow() - timedelta(hours=1)
    token = csrf(client, "/merchant/profile")
    form = {"vpa": "asha.devi@okicici", "csrf_token": token}
    resp = client.post("/merchant/payout-vpa", data=form, headers={"Referer": "/merchant/profile"})
    assert resp.status_code == 302 and "/reauth" in resp.headers["Location"]
    reauth_token = csrf(client, "/reauth")
    from tests.accounts.helpers import PASSWORD

    client.post("/reauth", data={"password": PASSWORD, "csrf_token": reauth_token})
    checked = client.post("/merchant/payout-vpa", data=form)
    assert 'id="registered-name">Asha Devi<' in checked.get_data(as_text=True)
    client.post("/merchant/payout-vpa", data={**form, "step": "confirm"})
    with db(app) as session:
        live = session.get_one(Merchant, merchant.id)
        assert live.upi_vpa == old_vpa  # payouts still go to the old VPA
        pending = profile.pending_change(session, merchant.id)
        assert pending is not None and pending.vpa == "asha.devi@okicici"
        assert pending.effective_at - pending.requested_at == timedelta(hours=24)
        note = session.scalars(
            select(OutboxMessage).where(OutboxMessage.key == f"vpa_change:{pending.id}:requested")
        ).one()
        assert "asha.devi@okicici" in note.payload["body"]
        assert [a.action for a in trail(session, "merchant", merchant.id)][-1] == (
            "merchant.vpa_change_requested"
        )
        # Before the cooling-off ends nothing changes; after it, the new VPA is active.
        assert profile.apply_due_vpa_changes(session, now=utcnow()) == []
        changed = profile.apply_due_vpa_changes(session, now=pending.effective_at)
        assert changed == [merchant.id]
        assert session.get_one(Merchant, merchant.id).upi_vpa == "asha.devi@okicici"
        states = {r.vpa: r.status for r in profile.payout_account_history(session, merchant.id)}
        assert states == {
            "asha.devi@okicici": PayoutAccountStatus.ACTIVE,
            old_vpa: PayoutAccountStatus.SUPERSEDED,
        }


def test_cancelled_change_never_activates(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    assert merchant is not None
    token = csrf(client, "/merchant/profile")
    form = {"vpa": "ravi.kumar@okaxis", "step": "confirm", "csrf_token": token}
    client.post("/merchant/payout-vpa", data=form)
    client.post("/merchant/payout-vpa/cancel", data={"csrf_token": token})
    with db(app) as session:
        assert profile.pending_change(session, merchant.id) is None
        assert profile.apply_due_vpa_changes(session, now=utcnow() + timedelta(days=2)) == []
        assert session.get_one(Merchant, merchant.id).upi_vpa == merchant.upi_vpa


def test_put_payout_account_via_api(app: Flask) -> None:
    client, _user, merchant = signed_in(app)
    assert merchant is not None
    token = csrf(client, "/merchant/api-keys")
    page = client.post(
        "/merchant/api-keys",
        data={"name": "ops", "scopes": ["payout_account:write"], "csrf_token": token},
    ).get_data(as_text=True)
    key = re.search(r"tfm_[A-Za-z0-9_\-]{43}", page).group(0)  # type: ignore[union-attr]
    api = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    resp = api.put(
        "/api/v1/merchant/payout-account", json={"vpa": "ravi.kumar@okaxis"}, headers=headers
    )
    assert resp.status_code == 202, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["registered_name"] == "Ravi Kumar" and body["current_vpa"] == merchant.upi_vpa
    bad = api.put(
        "/api/v1/merchant/payout-account", json={"vpa": "gone.invalid@okaxis"}, headers=headers
    )
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "vpa_rejected"
    same = api.put(
        "/api/v1/merchant/payout-account", json={"vpa": merchant.upi_vpa}, headers=headers
    )
    assert same.get_json()["error"]["code"] == "vpa_unchanged"
    with db(app) as session:  # the refused request cancelled nothing
        assert profile.pending_change(session, merchant.id).vpa == "ravi.kumar@okaxis"  # type: ignore[union-attr]


def test_unreachable_provider_is_503_and_changes_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, fresh_sqlite(tmp_path), razorpayx_url="http://127.0.0.1:9")
    app = create_app(settings, TESTING=True)
    client, _user, merchant = signed_in(app)
    token = csrf(client, "/merchant/profile")
    resp = client.post(
        "/merchant/payout-vpa",
        data={"vpa": "ravi.kumar@okaxis", "step": "confirm", "csrf_token": token},
    )
    assert resp.status_code == 503 and "try again" in resp.get_data(as_text=True)
    with db(app) as session:
        assert profile.pending_change(session, merchant.id) is None  # type: ignore[union-attr]
    app.extensions["engine"].dispose()
