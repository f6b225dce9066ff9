"""Sentry: off without a DSN; with one, events reach the DSN tagged and scrubbed.

The DSN points at a loopback HTTP receiver, so the real SDK transport sends
real envelopes and the test reads exactly what would have left the process.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from pydantic import SecretStr

from tests.alerts.receivers import http_receiver
from tests.observability.support import MASTER, ops_app, settings_for, sqlite_db
from wallet.observability.sentry import init_sentry

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def sentry_off() -> Iterator[None]:
    yield
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: a disabled client for whoever runs next


def decode(headers: dict[str, str], body: bytes) -> str:
    encoding = {k.lower(): v for k, v in headers.items()}.get("content-encoding", "")
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    elif encoding == "br":
        import brotli  # type: ignore[import-not-found]

        body = brotli.decompress(body)
    return body.decode()


def events(requests: list[tuple[dict[str, str], bytes]]) -> list[dict[str, Any]]:
    found = []
    for headers, body in requests:
        for line in decode(headers, body).splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and "event_id" in doc and "level" in doc:
                found.append(doc)
    return found


def test_off_by_default(tmp_path: Path) -> None:
    assert init_sentry(settings_for(tmp_path, "sqlite://")) is False
    assert not sentry_sdk.get_client().is_active()


def test_events_are_tagged_and_scrubbed(tmp_path: Path) -> None:
    with http_receiver() as (url, got):
        port = url.split(":")[2].split("/")[0]
        dsn = f"http://publickey@127.0.0.1:{port}/1"
        db_url, _ = sqlite_db(tmp_path)
        settings = settings_for(
            tmp_path, db_url, sentry_dsn=SecretStr(dsn), sentry_release="taskforce@1.2.3"
        )
        assert init_sentry(settings, "web") is True
        app = ops_app(settings)

        @app.get("/_test/boom")
        def boom() -> str:
            sentry_sdk.set_user({"id": "42", "email": "ravi@example.com", "ip_address": "1.2.3.4"})
            logging.getLogger("webapp.test").warning(
                "paying ravi.kumar@okaxis password=%s", PASSWORD
            )
            key = MASTER.get_secret_value()
            raise RuntimeError(f"cannot unwrap seed with {key} for ravi.kumar@okaxis 9876543210")

        app.config["PROPAGATE_EXCEPTIONS"] = False
        response = app.test_client().get(
            "/_test/boom?token=abcdef123456",
            headers={"Authorization": f"Bearer {PASSWORD}", "Cookie": "tfw_session=s3cr3tcookie"},
        )
        assert response.status_code == 500
        sentry_sdk.flush(timeout=5)
    sent = "\n".join(decode(h, b) for h, b in got.requests)
    for secret in (MASTER.get_secret_value(), PASSWORD, "s3cr3tcookie", "abcdef123456",
                   "ravi.kumar@okaxis", "ravi@example.com", "9876543210", "1.2.3.4"):  # fmt: skip
        assert secret not in sent, secret
    (event,) = [e for e in events(got.requests) if e.get("exception")]
    assert event["environment"] == "test"
    assert event["release"] == "taskforce@1.2.3"
    assert event["tags"]["component"] == "web"
    assert event["user"] == {"id": "42"}
    assert "RuntimeError" in sent and "[REDACTED]" in sent
