"""Logs are JSON lines with request/user/payment/run context and no secret in them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import request
from pydantic import SecretStr

from tests.observability.support import MASTER, ops_app, settings_for, sqlite_db
from wallet.observability import context
from wallet.observability.logs import HANDLER_NAME, configure_logging

PASSWORD = "correct-horse-battery-staple"
BEARER = "tfw_live_8c1d0f3a9e7b4c2d"
EXCHANGE_SECRET = "binance-secret-0f9e8d7c6b5a"


@pytest.fixture
def captured(tmp_path: Path) -> Iterator[tuple[io.StringIO, Any]]:
    url, _ = sqlite_db(tmp_path)
    settings = settings_for(
        tmp_path, url, exchange_api_secret=SecretStr(EXCHANGE_SECRET), log_level="DEBUG"
    )
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    yield stream, settings
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_lines_are_json_with_bound_context(captured: tuple[io.StringIO, Any]) -> None:
    stream, _ = captured
    log = logging.getLogger("wallet.settlement")
    with context.bound(payment_id="pay-1", run_id="run-9"):
        log.info("payout %s sent", "pout_1", extra={"amount_paise": 50_000})
    log.warning("outside")
    first, second = lines(stream)
    assert first["message"] == "payout pout_1 sent"
    assert first["level"] == "info" and first["logger"] == "wallet.settlement"
    assert first["payment_id"] == "pay-1" and first["run_id"] == "run-9"
    assert first["amount_paise"] == 50_000
    assert first["ts"].endswith("+00:00")
    assert "payment_id" not in second and "run_id" not in second


def test_configure_logging_twice_keeps_one_handler(captured: tuple[io.StringIO, Any]) -> None:
    stream, settings = captured
    configure_logging(settings, stream=stream)
    ours = [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]
    assert len(ours) == 1


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
def test_http_clients_do_not_log_a_line_per_request(
    captured: tuple[io.StringIO, Any], library: str
) -> None:
    """Chain nodes are polled every second: solana-py's client (httpx2) logged each call
    at INFO, and a node URL can carry a provider's key in its query string."""
    import importlib

    stream, _ = captured
    client_lib = importlib.import_module(library)
    transport = client_lib.MockTransport(lambda _request: client_lib.Response(200, json={}))
    with client_lib.Client(transport=transport) as client:
        assert client.post("http://node.invalid/?api-key=k", json={}).status_code == 200
    logging.getLogger("wallet.chains").info("our own line still shows")
    assert [line["message"] for line in lines(stream)] == ["our own line still shows"]


def test_secrets_never_reach_the_log(captured: tuple[io.StringIO, Any]) -> None:
    stream, settings = captured
    log = logging.getLogger("wallet.test")
    master = MASTER.get_secret_value()
    log.info("boot with key %s and %s", master, settings.exchange_api_secret)
    log.info("login attempt password=%s", PASSWORD)
    log.info("headers %s", {"Authorization": f"Bearer {BEARER}", "X-Request-ID": "abc"})
    log.info("client", extra={"api_secret": EXCHANGE_SECRET, "note": f"seed {master}"})
    log.info("db at postgresql://app:%s@db:5432/wallet", PASSWORD)
    try:
        raise RuntimeError(f"signing failed with {EXCHANGE_SECRET}")
    except RuntimeError:
        log.exception("sell failed")
    text = stream.getvalue()
    for secret in (master, PASSWORD, BEARER, EXCHANGE_SECRET):
        assert secret not in text
    assert text.count("[REDACTED]") >= 7
    assert "X-Request-ID" in text  # ordinary fields survive


def test_a_request_is_logged_with_its_id_and_without_its_secrets(
    captured: tuple[io.StringIO, Any],
) -> None:
    stream, settings = captured
    app = ops_app(settings)

    @app.post("/_test/echo")
    def echo() -> dict[str, str]:
        # The careless code a redaction filter exists for.
        logging.getLogger("webapp.test").info(
            "echo headers=%s form=%s", dict(request.headers), request.form.to_dict()
        )
        logging.getLogger("webapp.test").error(
            "unwrapping with master key %s",
            app.extensions["settings"].wallet_master_key.get_secret_value(),
        )
        return {"ok": "yes"}

    client = app.test_client()
    response = client.post(
        "/_test/echo",
        data={"email": "a@example.com", "password": PASSWORD},
        headers={"Authorization": f"Bearer {BEARER}", "X-Request-ID": "req-12345678"},
    )
    # (CSRF may refuse the form post; the hooks and logs run either way.)
    assert response.headers["X-Request-ID"] == "req-12345678"
    login = client.post(
        "/auth/login",
        data={"email": "nobody@example.com", "password": PASSWORD},
        headers={"Authorization": f"Basic {BEARER}"},
    )
    assert login.headers["X-Request-ID"] != "req-12345678"  # each request its own id
    text = stream.getvalue()
    for secret in (MASTER.get_secret_value(), PASSWORD, BEARER):
        assert secret not in text
    records = lines(stream)
    tagged = [r for r in records if r.get("request_id") == "req-12345678"]
    assert tagged, records
    access = [r for r in records if r["logger"] == "webapp.access"]
    assert {r["path"] for r in access} >= {"/_test/echo", "/auth/login"}
    assert all(r["request_id"] for r in access)


def test_a_malformed_request_id_is_replaced(captured: tuple[io.StringIO, Any]) -> None:
    _, settings = captured
    client = ops_app(settings).test_client()
    answer = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert answer.headers["X-Request-ID"] != "bad id <script>"
    assert len(answer.headers["X-Request-ID"]) == 32
