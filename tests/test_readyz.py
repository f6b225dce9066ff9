"""``/readyz`` against real dependencies: PostgreSQL and sandbox stand-ins on loopback.

Ready when every critical component answers; 503 (with the component that
failed named in the JSON) when PostgreSQL is unreachable or a node stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.observability.support import ops_app, settings_for, sqlite_db

pytestmark = pytest.mark.slow

CHECKS = ("database", "bitcoin", "exchange", "inr_exchange", "payout_gateway", "dagster")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from sandbox.exchange.testing import start_exchange, stop_exchange
    from sandbox.razorpayx.testing import start_razorpayx, stop_razorpayx
    from sandbox.utxo.testing import start_utxo, stop_utxo

    tmp = tmp_path_factory.mktemp("readyz")
    stops: list[Any] = []
    try:
        rzp, rzp_info = start_razorpayx(tmp)
        stops.append(lambda: stop_razorpayx(rzp))
        binance, binance_info = start_exchange(tmp, "binance", tick_seconds=0)
        stops.append(lambda: stop_exchange(binance))
        inr, inr_info = start_exchange(tmp, "inr", tick_seconds=0)
        stops.append(lambda: stop_exchange(inr))
        btc, btc_info = start_utxo(tmp, "bitcoin")
        stops.append(lambda: stop_utxo(btc))
        settings: dict[str, Any] = {
            **rzp_info["settings"],
            "exchange_url": binance_info["settings"]["exchange_url"],
            "inr_exchange_url": inr_info["settings"]["inr_exchange_url"],
            "btc_rpc_url": btc_info["settings"]["btc_rpc_url"],
        }
        for key in ("razorpayx_key_id", "razorpayx_key_secret", "razorpayx_webhook_secret"):
            settings[key] = SecretStr(settings[key])
        yield {"settings": settings, "btc": btc, "tmp": tmp}
    finally:
        for stop in reversed(stops):
            stop()


def test_ready_when_everything_answers(sandbox: dict[str, Any], tmp_path: Path) -> None:
    url, _ = sqlite_db(tmp_path)
    settings = settings_for(tmp_path, url, readiness_checks=CHECKS, **sandbox["settings"])
    answer = ops_app(settings).test_client().get("/readyz")
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert body["status"] == "ready"
    for name in ("database", "bitcoin", "exchange", "inr_exchange", "payout_gateway"):
        assert body["components"][name]["ok"] is True, (name, body)
        assert body["components"][name]["critical"] is True
    assert body["components"]["payout_gateway"]["value"] > 0  # the float, in paise
    assert body["components"]["dagster"]["ok"] is None  # not configured: unknown, not failing
    assert "sandbox" not in answer.get_data(as_text=True)  # no credential echoed back


@pytest.mark.postgres
def test_not_ready_when_postgres_is_unreachable(sandbox: dict[str, Any], tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        "postgresql://postgres@127.0.0.1:9/test",  # a closed port
        readiness_checks=CHECKS,
        readiness_timeout_seconds=1.0,
        **sandbox["settings"],
    )
    answer = ops_app(settings).test_client().get("/readyz")
    body = answer.get_json()
    assert answer.status_code == 503
    assert body["status"] == "not_ready"
    assert body["components"]["database"]["ok"] is False
    assert body["components"]["bitcoin"]["ok"] is True  # only the culprit is blamed


@pytest.mark.postgres
def test_ready_on_postgres(sandbox: dict[str, Any], tmp_path: Path, pg_schema_url: str) -> None:
    settings = settings_for(tmp_path, pg_schema_url, readiness_checks=CHECKS, **sandbox["settings"])
    answer = ops_app(settings).test_client().get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["components"]["database"]["detail"] == "postgresql"


def test_not_ready_when_a_node_stops(sandbox: dict[str, Any], tmp_path: Path) -> None:
    from sandbox.utxo.testing import start_utxo, stop_utxo

    proc, info = start_utxo(tmp_path, "dogecoin")
    url, _ = sqlite_db(tmp_path)
    settings = settings_for(
        tmp_path,
        url,
        readiness_checks=(*CHECKS, "dogecoin"),
        doge_rpc_url=info["settings"]["doge_rpc_url"],
        **sandbox["settings"],
    )
    client = ops_app(settings).test_client()
    try:
        assert client.get("/readyz").status_code == 200
    finally:
        stop_utxo(proc)
    answer = client.get("/readyz")
    body = answer.get_json()
    assert answer.status_code == 503
    assert body["components"]["dogecoin"]["ok"] is False
    assert "unreachable" in body["components"]["dogecoin"]["detail"]
    assert body["components"]["bitcoin"]["ok"] is True
