"""Web sign-up, sign-in and sign-out: sessions, cookies, CSRF, throttling, IDOR."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.accounts.helpers import PASSWORD, unique_email
from tests.webapp.conftest import AppFactory, csrf_from, settings_for, web_login, web_signup
from wallet.accounts import tokens
from wallet.accounts.models import ApiToken, UserSession
from wallet.db.base import utcnow
from wallet.db.models.users import Role, User
from webapp.extensions import session_factory


def _signed_in(client: FlaskClient) -> bool:
    resp = client.get("/account")
    return resp.status_code == 200


def _sid(client: FlaskClient) -> str | None:
    with client.session_transaction() as sess:
        value = sess.get("sid")
    return value if isinstance(value, str) else None


def _user(app: Flask, email: str) -> User:
    with app.app_context(), session_factory()() as db:
        user = db.scalars(select(User).where(User.email == email)).one()
        db.expunge(user)
        return user


def test_signup_signs_in_and_shows_the_wallet(any_app: Flask) -> None:
    client = any_app.test_client()
    email = web_signup(client, role="merchant")
    home = client.get("/", follow_redirects=True)
    assert home.status_code == 200
    assert home.request.path.startswith("/merchant")  # each role lands on its own home
    assert _user(any_app, email).role is Role.MERCHANT


def test_signup_cannot_choose_admin(client: FlaskClient, app: Flask) -> None:
    token = csrf_from(client, "/signup")
    email = unique_email()
    resp = client.post(
        "/signup", data={"email": email, "password": PASSWORD, "role": "admin", "csrf_token": token}
    )
    assert resp.status_code == 400
    assert "payer or merchant" in resp.get_data(as_text=True)
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(func.count()).select_from(User)) == 0


def test_login_logout_and_wrong_password(any_app: Flask) -> None:
    client = any_app.test_client()
    email = web_signup(client)
    client.post("/logout", data={"csrf_token": csrf_from(client, "/account")})
    assert not _signed_in(client)

    wrong = web_login(client, email, "not the password")
    assert wrong.status_code == 401
    assert "wrong e-mail or password" in wrong.get_data(as_text=True)
    assert not _signed_in(client)

    ok = web_login(client, email)
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert _signed_in(client)


def test_session_id_is_rotated_at_login(client: FlaskClient, app: Flask) -> None:
    email = web_signup(client)
    first_sid = _sid(client)
    # A fixation attempt: the attacker plants a session id of their choosing.
    with client.session_transaction() as sess:
        sess["sid"] = "attacker-chosen-session-id"
        sess["_csrf"] = "attacker-known-csrf-token-0123456789abcdef"
    assert not _signed_in(client)
    web_login(client, email)
    new_sid = _sid(client)
    assert new_sid not in (None, first_sid, "attacker-chosen-session-id")
    with client.session_transaction() as sess:
        assert sess["_csrf"] != "attacker-known-csrf-token-0123456789abcdef"
    assert _signed_in(client)


def test_logout_invalidates_the_session_on_the_server(app: Flask) -> None:
    client = app.test_client()
    web_signup(client)
    stolen = client.get_cookie("tfw_session")
    assert stolen is not None
    resp = client.post("/logout", data={"csrf_token": csrf_from(client, "/account")})
    assert resp.status_code == 302
    assert '"cache"' in resp.headers["Clear-Site-Data"]
    # Someone who copied the cookie before sign-out gets nowhere with it.
    thief = app.test_client()
    thief.set_cookie("tfw_session", stolen.value)
    assert thief.get("/account").status_code == 302
    with app.app_context(), session_factory()() as db:
        rows = db.scalars(select(UserSession)).all()
        assert len(rows) == 1 and rows[0].revoked_at is not None


def test_logout_everywhere_ends_other_devices(any_app: Flask) -> None:
    phone, laptop = any_app.test_client(), any_app.test_client()
    email = web_signup(phone)
    web_login(laptop, email)
    assert _signed_in(phone) and _signed_in(laptop)
    resp = laptop.post(
        "/account/logout-everywhere", data={"csrf_token": csrf_from(laptop, "/account")}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert not _signed_in(phone)
    assert not _signed_in(laptop)


def test_sensitive_changes_need_a_recent_password(client: FlaskClient, app: Flask) -> None:
    email = web_signup(client)
    # The sign-in was long ago.
    with app.app_context(), session_factory()() as db, db.begin():
        for row in db.scalars(select(UserSession)):
            row.authenticated_at = utcnow() - timedelta(hours=2)
    token = csrf_from(client, "/account")
    resp = client.post(
        "/account/tokens",
        data={"name": "ci", "csrf_token": token},
        headers={"Referer": "http://localhost/account"},
    )
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/reauth")
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(func.count()).select_from(ApiToken)) == 0

    bad = client.post("/reauth", data={"password": "nope-nope-nope", "csrf_token": token})
    assert bad.status_code == 401
    good = client.post(
        "/reauth", data={"password": PASSWORD, "next": "/account", "csrf_token": token}
    )
    assert good.status_code == 302 and good.headers["Location"] == "/account"

    created = client.post("/account/tokens", data={"name": "ci", "csrf_token": token})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    page = created.get_data(as_text=True)
    with app.app_context(), session_factory()() as db:
        row = db.scalars(select(ApiToken)).one()
    assert row.user_id == _user(app, email).id
    shown = page.split('<code class="token">', 1)[1].split("</code>", 1)[0]
    assert tokens.hash_token(shown) == row.token_hash
    # Shown once: the account page never shows it again.
    assert shown not in client.get("/account").get_data(as_text=True)


def test_forms_without_a_valid_csrf_token_are_refused(client: FlaskClient, app: Flask) -> None:
    email = web_signup(client)
    client.post("/logout", data={"csrf_token": csrf_from(client, "/account")})
    # Login CSRF: no token, then a forged one.
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 403
    forged = {"email": email, "password": PASSWORD, "csrf_token": "forged"}
    assert client.post("/login", data=forged).status_code == 403
    assert not _signed_in(client)

    web_login(client, email)
    resp = client.post("/account/tokens", data={"name": "evil"})
    assert resp.status_code == 403
    assert "code: forbidden" in resp.get_data(as_text=True)
    assert client.post("/account/logout-everywhere").status_code == 403
    assert client.post("/logout").status_code == 403
    assert _signed_in(client)
    with app.app_context(), session_factory()() as db:
        assert db.scalar(select(func.count()).select_from(ApiToken)) == 0
    # The same header token that the PWA sends for API calls is accepted.
    token = csrf_from(client, "/account")
    ok = client.post("/account/tokens", data={"name": "ok"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200


def test_brute_force_is_throttled_but_the_owner_gets_in(app: Flask) -> None:
    owner_phone = app.test_client()
    email = web_signup(owner_phone)
    attacker = app.test_client()
    attacker_ip = {"REMOTE_ADDR": "203.0.113.50"}
    statuses = [
        web_login(attacker, email, f"guess-{i}-xxxx", environ_base=attacker_ip).status_code
        for i in range(7)
    ]
    assert statuses[:5] == [401] * 5
    assert 429 in statuses[5:]
    throttled = web_login(attacker, email, PASSWORD, environ_base=attacker_ip)
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert not _signed_in(attacker)
    # The real user, from another address, is not locked out.
    other = app.test_client()
    resp = web_login(other, email, environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert resp.status_code == 302
    assert _signed_in(other)


def test_users_cannot_touch_each_others_sessions_or_tokens(app: Flask) -> None:
    alice, bob = app.test_client(), app.test_client()
    web_signup(alice)
    bob_email = web_signup(bob)
    bob_user = _user(app, bob_email)
    with app.app_context(), session_factory()() as db, db.begin():
        bob_row = db.get(User, bob_user.id)
        assert bob_row is not None
        issued = tokens.issue_token(db, bob_row, "bob's")
        bob_session = db.scalars(
            select(UserSession).where(UserSession.user_id == bob_user.id)
        ).one()
    token = csrf_from(alice, "/account")
    resp = alice.post(f"/account/tokens/{issued.row.id}/revoke", data={"csrf_token": token})
    assert resp.status_code == 404
    resp = alice.post(f"/account/sessions/{bob_session.id}/end", data={"csrf_token": token})
    assert resp.status_code == 404
    assert bob_email not in alice.get("/account").get_data(as_text=True)
    assert _signed_in(bob)
    assert (
        app.test_client()
        .get("/api/v1/wallet", headers={"Authorization": f"Bearer {issued.token}"})
        .status_code
        == 200
    )


def test_login_redirects_only_within_the_site(client: FlaskClient) -> None:
    email = web_signup(client)
    for target, expected in [
        ("/scan", "/scan"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ]:
        client.post("/logout", data={"csrf_token": csrf_from(client, "/account")})
        token = csrf_from(client, "/login")
        resp = client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "next": target, "csrf_token": token},
        )
        assert resp.headers["Location"] == expected, target


def test_pages_that_need_a_user_redirect_to_sign_in(client: FlaskClient) -> None:
    for path in ("/account", "/scan"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")


def test_cookie_flags(client: FlaskClient, make_app: AppFactory, tmp_path: Path) -> None:
    web_signup(client)
    cookie = client.get_cookie("tfw_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert not cookie.secure  # plain http in tests; production below

    prod = make_app(
        settings=settings_for(
            tmp_path, f"sqlite:///{tmp_path / 'app.db'}", environment="production"
        )
    )
    resp = prod.test_client().get("/login", base_url="https://localhost")
    header = resp.headers["Set-Cookie"]
    assert header.startswith("__Host-tfw=")
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Domain" not in header and "Path=/" in header
