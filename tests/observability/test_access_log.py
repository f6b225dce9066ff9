"""gunicorn's access log (on in deploy/k8s) writes no query-string value or credential header.

Found by the full-run scan (tests/e2e/test_secrets_in_logs.py): gunicorn logs
the raw request line through its own non-propagating logger, so a token sent
as ``?access_token=…`` reached the access log unmasked.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from tests.observability.support import MASTER, settings_for, sqlite_db
from wallet.observability.logs import (
    HANDLER_NAME,
    SERVER_LOGGERS,
    configure_logging,
    mask_query,
    mask_uri,
)

TOKEN = "tfw_Zq4yV7d1kPpW0sM2nX8rB3cT6uE9hJ5aL"
PASSWORD = "my pass/word+&="
FORMAT = (
    '%(h)s "%(r)s" %(s)s q=%(q)s f="%(f)s" auth="%({authorization}i)s" '
    'cookie="%({cookie}i)s" env_auth="%({http_authorization}e)s" raw="%({raw_uri}e)s" '
    'ua="%(a)s" set="%({set-cookie}o)s"'
)


@pytest.fixture
def access_log(tmp_path: Path) -> Iterator[tuple[Logger, io.StringIO]]:
    url, _ = sqlite_db(tmp_path)
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", FORMAT)
    glog = Logger(cfg)  # sets up gunicorn.access / gunicorn.error as gunicorn does
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("gunicorn.access").addHandler(capture)
    configure_logging(settings_for(tmp_path, url), stream=io.StringIO())  # as create_app does
    yield glog, stream
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        for f in list(logger.filters):
            logger.removeFilter(f)
        for h in list(logger.handlers):
            logger.removeHandler(h)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)


def _request(glog: Logger, uri: str, headers: list[tuple[str, str]]) -> None:
    path, _, query = uri.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://shop.example/back?token={TOKEN}",
        "HTTP_USER_AGENT": "curl/8",
        "HTTP_AUTHORIZATION": f"Bearer {TOKEN}",
    }
    resp = SimpleNamespace(status="401 UNAUTHORIZED", sent=92, headers=[("Set-Cookie", TOKEN)])
    req = SimpleNamespace(headers=[(k.upper(), v) for k, v in headers])
    glog.access(resp, req, environ, timedelta(milliseconds=3))


def test_query_values_and_credential_headers_are_masked(
    access_log: tuple[Logger, io.StringIO],
) -> None:
    glog, stream = access_log
    uri = f"/api/v1/wallet?access_token={TOKEN}&limit=20&{TOKEN}&empty="
    _request(glog, uri, [("Authorization", f"Bearer {TOKEN}"), ("Cookie", f"tfw_session={TOKEN}")])
    line = stream.getvalue()
    assert TOKEN not in line, line
    assert '"GET /api/v1/wallet?access_token=[REDACTED]&limit=[REDACTED]&[REDACTED]&empty=' in line
    assert 'f="https://shop.example/back?token=[REDACTED]"' in line
    assert 'auth="[REDACTED]"' in line and 'cookie="[REDACTED]"' in line
    assert 'env_auth="[REDACTED]"' in line and 'set="[REDACTED]"' in line
    assert '" 401 ' in line and 'ua="curl/8"' in line  # the rest of the line is kept


def test_a_registered_secret_in_the_path_is_masked_too(
    access_log: tuple[Logger, io.StringIO],
) -> None:
    glog, stream = access_log
    master = MASTER.get_secret_value()
    _request(glog, f"/oops/{master}?password={PASSWORD}", [])
    line = stream.getvalue()
    assert master not in line and "/oops/[REDACTED]" in line
    assert "my pass" not in line and "pass/word" not in line


def test_a_request_line_about_tokens_stays_readable(
    access_log: tuple[Logger, io.StringIO],
) -> None:
    glog, stream = access_log
    _request(glog, "/api/v1/auth/token", [])
    assert '"GET /api/v1/auth/token HTTP/1.1" 401' in stream.getvalue()


def test_mask_helpers() -> None:
    assert mask_query("") == ""
    assert mask_query("a=1&b=&c") == "a=[REDACTED]&b=&[REDACTED]"
    assert mask_uri("GET /p HTTP/1.1") == "GET /p HTTP/1.1"
    assert mask_uri("POST /p?x=1 HTTP/1.1") == "POST /p?x=[REDACTED] HTTP/1.1"
    assert mask_uri("GET /p?x=a b HTTP/1.0") == "GET /p?x=[REDACTED] HTTP/1.0"
    assert mask_uri("https://h/p?next=/a?b=1") == "https://h/p?next=[REDACTED]"
