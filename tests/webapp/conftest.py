"""Flask test fixtures: an app on a fresh database, clients, sign-in helpers."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from tests.accounts.helpers import (
    FAST_HASHER,
    PASSWORD,
    migrated_pg_schema,
    pg_admin_url,
    sqlite_url,
    unique_email,
)
from wallet.accounts import passwords
from wallet.config import Settings
from webapp import create_app

SECRET = SecretStr(base64.b64encode(b"k" * 32).decode())
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

AppFactory = Callable[..., Flask]


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "hasher", lambda: FAST_HASHER)
    monkeypatch.setattr(passwords, "_dummy_hash", lambda: FAST_HASHER.hash("nobody"))


def settings_for(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "var_dir": tmp_path,
        "database_url": url,
        "secret_key": SECRET,
        "wallet_master_key": SECRET,
        "redis_url": None,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def webapp_pg_url(pg_schema_url: str) -> Iterator[str]:
    with migrated_pg_schema(pg_admin_url()) as url:
        yield url


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """Build apps on one fresh SQLite database (config overrides as kwargs)."""
    url = sqlite_url(tmp_path)
    apps: list[Flask] = []

    def build(database_url: str = url, settings: Settings | None = None, **config: Any) -> Flask:
        config.setdefault("TESTING", True)
        app = create_app(settings or settings_for(tmp_path, database_url), **config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["engine"].dispose()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_app(request: pytest.FixtureRequest, make_app: AppFactory) -> Flask:
    """The app on SQLite, and again on a migrated PostgreSQL schema."""
    if request.param == "sqlite":
        return make_app()
    return make_app(request.getfixturevalue("webapp_pg_url"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_from(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token the server put into a form on ``path``."""
    page = client.get(path)
    match = _CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def web_signup(client: FlaskClient, email: str | None = None, role: str = "payer") -> str:
    email = email or unique_email()
    token = csrf_from(client, "/signup")
    resp = client.post(
        "/signup",
        data={"email": email, "password": PASSWORD, "role": role, "csrf_token": token},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return email


def web_login(client: FlaskClient, email: str, password: str = PASSWORD, **kw: Any) -> Any:
    token = csrf_from(client, "/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, **kw
    )


def api_signup(
    client: FlaskClient, email: str | None = None, role: str = "payer"
) -> dict[str, Any]:
    resp = client.post(
        "/api/v1/auth/signup",
        json={"email": email or unique_email(), "password": PASSWORD, "role": role},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body: dict[str, Any] = resp.get_json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
