"""The OpenAPI document and docs page, and the PWA shell (manifest, worker, scan)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.webapp.conftest import AppFactory, csrf_from, web_signup
from webapp.api.spec import undocumented_api_rules
from webapp.pwa import DEFAULT_JSQR

_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_document_describes_exactly_the_served_routes(
    app: Flask, client: FlaskClient
) -> None:
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    spec = json.loads(resp.get_data(as_text=True))
    assert spec["openapi"] == "3.1.0"
    assert spec["servers"] == [{"url": "/api/v1"}]
    assert undocumented_api_rules(app) == []
    served = {
        (re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", r.rule[len("/api/v1") :]), m.lower())
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/v1/")
        for m in (r.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == served
    for expected in [
        ("/auth/signup", "post"),
        ("/auth/token", "post"),
        ("/wallet", "get"),
        ("/payment-codes/parse", "post"),
        ("/auth/tokens/{token_id}", "delete"),
    ]:
        assert expected in documented


def test_openapi_components_resolve_and_describe_errors_and_auth(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for ref in _refs(spec):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    error = schemas["ErrorResponse"]
    assert error["required"] == ["error"]
    assert set(schemas["ErrorBody"]["required"]) == {"code", "message"}
    signup = spec["paths"]["/auth/signup"]["post"]
    assert signup["security"] == []
    assert "201" in signup["responses"] and "409" in signup["responses"]
    request_schema = schemas["SignupRequest"]
    assert request_schema["additionalProperties"] is False
    assert request_schema["properties"]["role"]["enum"] == ["payer", "merchant"]
    wallet = spec["paths"]["/wallet"]["get"]
    assert {"bearerAuth": []} in wallet["security"] and "401" in wallet["responses"]
    balance = schemas["BalanceOut"]["properties"]
    assert balance["amount_minor"]["type"] == "string"  # never JSON numbers for money
    revoke = spec["paths"]["/auth/tokens/{token_id}"]["delete"]
    names = {p["name"] for p in revoke["parameters"]}
    assert names == {"token_id", "Idempotency-Key"}
    assert {"409", "422"} <= set(revoke["responses"])


def test_docs_page_lists_every_operation_without_remote_assets(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    resp = client.get("/api/docs")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for path in spec["paths"]:
        assert f"<code>/api/v1{path}</code>" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_manifest_makes_the_app_installable(client: FlaskClient) -> None:
    resp = client.get("/manifest.webmanifest")
    assert resp.mimetype == "application/manifest+json"
    manifest = resp.get_json()
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/") and manifest["scope"] == "/"
    assert manifest["icons"]
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_service_worker_is_served_from_the_root(client: FlaskClient) -> None:
    resp = client.get("/sw.js")
    assert resp.status_code == 200
    assert resp.mimetype == "text/javascript"
    assert resp.headers["Service-Worker-Allowed"] == "/"
    assert resp.headers["Cache-Control"] == "no-cache"
    source = resp.get_data(as_text=True)
    # Every precached shell URL must exist, or installing the worker fails.
    shell = json.loads(
        re.search(r"var SHELL = (\[.*?\]);", source, re.S).group(1).replace("'", '"')
    )  # type: ignore[union-attr]
    for url in shell:
        assert client.get(url).status_code == 200, url


def test_jsqr_is_served_from_node_modules(
    client: FlaskClient, make_app: AppFactory, tmp_path: Path
) -> None:
    if DEFAULT_JSQR.is_file():
        resp = client.get("/vendor/jsqr.js")
        assert resp.status_code == 200 and b"jsQR" in resp.get_data()
    missing = make_app(JSQR_PATH=str(tmp_path / "nope.js"))
    resp = missing.test_client().get("/vendor/jsqr.js")
    assert resp.status_code == 404


def test_pages_have_no_inline_scripts(client: FlaskClient) -> None:
    web_signup(client)
    for path in ("/", "/scan", "/account", "/login", "/signup", "/offline", "/api/docs"):
        html = client.get(path).get_data(as_text=True)
        for attrs, body in _SCRIPT_TAG.findall(html):
            assert "src=" in attrs and not body.strip(), f"inline script on {path}"
        assert not re.search(r"\son[a-z]+=", html), f"inline event handler on {path}"


def test_scan_shows_the_payee_and_amount(client: FlaskClient) -> None:
    web_signup(client)
    token = csrf_from(client, "/scan")
    page = client.get("/scan").get_data(as_text=True)
    assert 'id="start-camera"' in page and 'id="photo"' in page and 'name="code"' in page
    resp = client.post(
        "/scan",
        data={
            "code": "upi://pay?pa=Chai@OKAXIS&pn=Ramu%20Chai&am=25.50&cu=INR",
            "csrf_token": token,
        },
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert '<dd id="payee-vpa">chai@okaxis</dd>' in html
    assert '<dd id="payee-name">Ramu Chai</dd>' in html
    assert "₹25.50" in html


def test_scan_without_amount_asks_for_one(client: FlaskClient) -> None:
    web_signup(client)
    token = csrf_from(client, "/scan")
    html = client.post(
        "/scan", data={"code": "upi://pay?pa=shop@ybl", "csrf_token": token}
    ).get_data(as_text=True)
    assert 'id="amount_inr"' in html and 'id="payee-amount"' not in html


def test_scan_escapes_hostile_names_and_reports_bad_codes(client: FlaskClient) -> None:
    web_signup(client)
    token = csrf_from(client, "/scan")
    hostile = "upi://pay?pa=shop@ybl&pn=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    html = client.post("/scan", data={"code": hostile, "csrf_token": token}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    bad = client.post("/scan", data={"code": "upi://pay?pa=a@ib&cu=USD", "csrf_token": token})
    assert bad.status_code == 400
    assert "upi_unsupported_currency" in bad.get_data(as_text=True)
    assert client.post("/scan", data={"code": "upi://pay?pa=shop@ybl"}).status_code == 403


def test_home_lists_balances_only_when_signed_in(client: FlaskClient) -> None:
    assert 'data-asset="SOL"' not in client.get("/").get_data(as_text=True)
    web_signup(client)
    home = client.get("/", follow_redirects=True)
    assert home.request.path == "/wallet"
    assert 'data-asset="SOL"' in home.get_data(as_text=True)
