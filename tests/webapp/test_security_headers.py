"""Security headers on every response: pages, API, errors and static files."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.webapp.conftest import AppFactory, settings_for

PATHS = ["/login", "/api/v1/openapi.json", "/static/js/app.js", "/no-such-page", "/healthz"]


def _csp(client: FlaskClient, path: str) -> dict[str, str]:
    value = client.get(path).headers["Content-Security-Policy"]
    directives = [part.strip().split(" ", 1) for part in value.split(";")]
    return {name: rest for name, rest in directives}


@pytest.mark.parametrize("path", PATHS)
def test_csp_forbids_inline_script_framing_and_plugins(client: FlaskClient, path: str) -> None:
    csp = _csp(client, path)
    assert csp["script-src"] == "'self'"  # no 'unsafe-inline', no nonce needed
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["form-action"] == "'self'"
    assert csp["connect-src"] == "'self'"
    assert csp["img-src"] == "'self' data:"


@pytest.mark.parametrize("path", PATHS)
def test_nosniff_referrer_and_permissions(client: FlaskClient, path: str) -> None:
    headers = client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    policy = headers["Permissions-Policy"]
    assert "camera=(self)" in policy  # the scan page reads QR codes with the camera
    assert "microphone=()" in policy


def test_post_errors_carry_the_headers_too(client: FlaskClient) -> None:
    resp = client.post("/api/v1/auth/login", data="not json", content_type="text/plain")
    assert resp.status_code >= 400
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


def test_no_hsts_over_plain_http_outside_production(client: FlaskClient) -> None:
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_hsts_when_the_request_is_https(client: FlaskClient) -> None:
    headers = client.get("/login", base_url="https://wallet.example").headers
    assert headers["Strict-Transport-Security"].startswith("max-age=63072000")


def test_hsts_in_production_even_over_http(make_app: AppFactory, tmp_path: Path) -> None:
    from tests.accounts.helpers import sqlite_url

    settings = settings_for(tmp_path, sqlite_url(tmp_path), environment="production")
    app = make_app(settings=settings)
    resp = app.test_client().get("/healthz")
    assert "includeSubDomains" in resp.headers["Strict-Transport-Security"]


def test_templates_have_no_inline_script() -> None:
    """The CSP relies on this: an inline <script> would silently stop working."""
    root = Path(__file__).resolve().parents[2] / "webapp" / "templates"
    offenders = []
    for template in root.rglob("*.html"):
        text = template.read_text()
        for chunk in text.split("<script")[1:]:
            tag = chunk.split(">", 1)[0]
            if "src=" not in tag:
                offenders.append(template.name)
        if " onclick=" in text or " onload=" in text or " onsubmit=" in text:
            offenders.append(template.name)
    assert offenders == []
