"""The web tier holds no per-process state: two gunicorn servers, one truth.

Two gunicorn servers (two sync workers each, so four processes) serve the
app on a port each, over one PostgreSQL schema migrated from empty and one
Redis. A client alternating between the ports must see one rate limit, one
set of idempotency keys, one set of browser sessions and API tokens, as a
load balancer's clients would. The servers run
``tests.scaling.probe_app:create_app()``: ``webapp.create_app()`` plus a
slow idempotent probe route (see that module for why).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from tests.conftest import DEFAULT_PG
from wallet.db.migrate import upgrade
from wallet.db.models.ops import IdempotencyKey
from wallet.db.session import make_engine, normalise_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
GUNICORN = REPO / ".venv" / "bin" / "gunicorn"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery staple"
TIMEOUT = 30
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class WebPair:
    a: str  # base URL of server A
    b: str  # base URL of server B
    database_url: str
    ratelimit_prefix: str

    def both(self) -> tuple[str, str]:
        return self.a, self.b


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _require_redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis unreachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip("LOUD NOTICE: " + message)
    return client


@pytest.fixture(scope="module")
def fresh_schema_url() -> Iterator[str]:
    """A PostgreSQL schema of this module's own, migrated from empty to head."""
    admin_url = normalise_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))
    schema = f"web2_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable: {exc}")
        pytest.skip(f"LOUD NOTICE: PostgreSQL unreachable: {exc}")
    sep = "&" if "?" in admin_url else "?"
    url = f"{admin_url}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _start(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                str(GUNICORN),
                "--workers=2",
                f"--bind=127.0.0.1:{port}",
                "--timeout=60",
                "--graceful-timeout=5",
                "tests.scaling.probe_app:create_app()",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the teardown stops only it
        )


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn at {base} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn at {base} never became healthy:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def pair(fresh_schema_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebPair]:
    store = _require_redis()
    tmp = tmp_path_factory.mktemp("web2")
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    prefix = f"tfw-test-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        ENVIRONMENT="test",
        VAR_DIR=str(tmp / "var"),
        DATABASE_URL=fresh_schema_url,
        REDIS_URL=REDIS_URL,
        SECRET_KEY=key,  # shared by every process, as in production
        WALLET_MASTER_KEY=key,
        TFW_TEST_RATELIMIT_PREFIX=prefix,
        SANDBOX_ENDPOINTS_FILE=str(tmp / "no-sandbox.json"),
    )
    ports = (_free_port(), _free_port())
    logs = [tmp / f"gunicorn-{p}.log" for p in ports]
    procs = [_start(p, env, log) for p, log in zip(ports, logs, strict=True)]
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base, proc, log in zip(bases, procs, logs, strict=True):
            _wait_healthy(base, proc, log)
        yield WebPair(bases[0], bases[1], fresh_schema_url, prefix)
    finally:
        for proc in procs:
            _stop(proc)
        for k in store.scan_iter(match=f"*{prefix}/*"):
            store.delete(k)


@pytest.fixture(autouse=True)
def fresh_rate_budget(pair: WebPair) -> Iterator[None]:
    """Each test starts with the whole budget (its counters live only in Redis)."""
    store = redis.Redis.from_url(REDIS_URL)
    for k in store.scan_iter(match=f"*{pair.ratelimit_prefix}/*"):
        store.delete(k)
    yield


def _signup(base: str, email: str | None = None) -> dict[str, Any]:
    email = email or f"u-{uuid.uuid4().hex[:10]}@example.com"
    r = requests.post(
        f"{base}/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD},
        timeout=TIMEOUT,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    body["email"] = email
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _pid(base: str) -> int:
    pid: int = requests.get(f"{base}/api/v1/_probe/pid", timeout=TIMEOUT).json()["pid"]
    return pid


# -- the tests ----------------------------------------------------------------


def test_the_two_ports_are_separate_processes(pair: WebPair) -> None:
    pids_a = {_pid(pair.a) for _ in range(6)}
    pids_b = {_pid(pair.b) for _ in range(6)}
    assert pids_a.isdisjoint(pids_b)


def test_rate_limit_is_one_budget_across_processes(pair: WebPair) -> None:
    """Sign-ups alternate between the ports and drain one shared counter."""
    remaining: list[int] = []
    refused: requests.Response | None = None
    for i in range(60):  # far above the budget; the loop ends at the first 429
        base = pair.both()[i % 2]
        r = requests.post(
            f"{base}/api/v1/auth/signup",
            json={"email": f"rl-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD},
            timeout=TIMEOUT,
        )
        if r.status_code == 429:
            refused = r
            break
        assert r.status_code == 201, r.text
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
    assert refused is not None, "the budget was never spent"
    # One counter: every request, whichever process served it, took one from it.
    budget = remaining[0] + 1
    assert remaining == list(range(budget - 1, -1, -1))
    assert budget == 20  # DEFAULT_LIMITS["auth"]: per process it would allow 20 x 4 workers
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert int(refused.headers["Retry-After"]) > 0
    # The other port refuses too: its processes read the same counter.
    other = pair.b if refused.url.startswith(pair.a) else pair.a
    again = requests.post(
        f"{other}/api/v1/auth/signup",
        json={"email": f"rl-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD},
        timeout=TIMEOUT,
    )
    assert again.status_code == 429
    assert "Retry-After" in again.headers


def test_api_tokens_work_and_die_on_both_ports(pair: WebPair) -> None:
    first = _signup(pair.a)
    listed = requests.get(
        f"{pair.b}/api/v1/auth/tokens", headers=_bearer(first["token"]), timeout=TIMEOUT
    )
    assert listed.status_code == 200
    assert len(listed.json()["tokens"]) == 1

    second = requests.post(
        f"{pair.b}/api/v1/auth/token",
        json={"email": first["email"], "password": PASSWORD, "name": "second"},
        timeout=TIMEOUT,
    )
    assert second.status_code == 200, second.text
    token_two = second.json()["token"]
    rows = requests.get(
        f"{pair.a}/api/v1/auth/tokens", headers=_bearer(token_two), timeout=TIMEOUT
    ).json()["tokens"]
    first_id = next(t["id"] for t in rows if t["name"] == "signup")

    revoked = requests.delete(
        f"{pair.a}/api/v1/auth/tokens/{first_id}", headers=_bearer(token_two), timeout=TIMEOUT
    )
    assert revoked.status_code == 204
    for base in pair.both():  # revoked everywhere at once: no per-process token cache
        r = requests.get(f"{base}/api/v1/auth/tokens", headers=_bearer(first["token"]), timeout=5)
        assert r.status_code == 401


def test_browser_session_started_on_one_port_lives_and_ends_on_both(pair: WebPair) -> None:
    user = _signup(pair.a)
    browser = requests.Session()
    page = browser.get(f"{pair.a}/login", timeout=TIMEOUT)
    token = _CSRF_RE.search(page.text)
    assert token is not None
    signed_in = browser.post(
        f"{pair.b}/login",
        data={"email": user["email"], "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert signed_in.status_code in (302, 303), signed_in.text[:500]

    for base in pair.both():
        mine = browser.get(f"{base}/api/v1/auth/sessions", timeout=TIMEOUT)
        assert mine.status_code == 200
        assert [s["current"] for s in mine.json()["sessions"]] == [True]

    account = browser.get(f"{pair.a}/account", timeout=TIMEOUT)
    assert account.status_code == 200
    csrf = _CSRF_RE.search(account.text)
    assert csrf is not None
    out = browser.post(
        f"{pair.b}/logout",
        data={"csrf_token": csrf.group(1)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert out.status_code in (302, 303)
    # A copy of the old cookie is useless on either port: the server row is gone.
    stale = requests.Session()
    stale.cookies.update({c.name: c.value for c in signed_in.cookies})
    for base in pair.both():
        r = stale.get(f"{base}/api/v1/auth/sessions", timeout=TIMEOUT)
        assert r.status_code == 401


def test_idempotency_key_replays_on_the_other_process(pair: WebPair) -> None:
    """The shipped idempotent view: revoking a token, retried on the other port."""
    user = _signup(pair.a)
    extra = requests.post(
        f"{pair.a}/api/v1/auth/token",
        json={"email": user["email"], "password": PASSWORD, "name": "extra"},
        timeout=TIMEOUT,
    ).json()["token"]
    rows = requests.get(
        f"{pair.a}/api/v1/auth/tokens", headers=_bearer(user["token"]), timeout=TIMEOUT
    ).json()["tokens"]
    extra_id = next(t["id"] for t in rows if t["name"] == "extra")
    assert extra

    headers = {**_bearer(user["token"]), "Idempotency-Key": f"revoke-{uuid.uuid4().hex}"}
    url = f"/api/v1/auth/tokens/{extra_id}"
    first = requests.delete(f"{pair.a}{url}", headers=headers, timeout=TIMEOUT)
    assert first.status_code == 204
    assert "Idempotent-Replayed" not in first.headers
    retry = requests.delete(f"{pair.b}{url}", headers=headers, timeout=TIMEOUT)
    assert retry.status_code == 204
    assert retry.headers.get("Idempotent-Replayed") == "true"
    # Without the key the same call runs again and finds nothing to revoke.
    fresh = requests.delete(f"{pair.b}{url}", headers=_bearer(user["token"]), timeout=TIMEOUT)
    assert fresh.status_code == 404


def test_concurrent_duplicate_on_the_other_process_gets_409_then_replays(
    pair: WebPair, tmp_path: Path
) -> None:
    user = _signup(pair.a)
    key = f"slow-{uuid.uuid4().hex}"
    gate = tmp_path / "open"
    headers = {**_bearer(user["token"]), "Idempotency-Key": key}
    body = {"gate": str(gate)}
    result: dict[str, requests.Response] = {}

    def first_request() -> None:
        result["first"] = requests.post(
            f"{pair.a}/api/v1/_probe/slow", json=body, headers=headers, timeout=TIMEOUT
        )

    runner = threading.Thread(target=first_request)
    runner.start()
    try:
        _wait_for_claim(pair.database_url, key)  # server A holds the key, mid-request
        duplicate = requests.post(
            f"{pair.b}/api/v1/_probe/slow", json=body, headers=headers, timeout=TIMEOUT
        )
        assert duplicate.status_code == 409
        assert duplicate.json()["error"]["code"] == "idempotency_key_in_use"
    finally:
        gate.touch()
        runner.join(TIMEOUT)
    first = result["first"]
    assert first.status_code == 201

    replay = requests.post(
        f"{pair.b}/api/v1/_probe/slow", json=body, headers=headers, timeout=TIMEOUT
    )
    assert replay.status_code == 201
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()  # A's answer, byte for byte, served by B

    misuse = requests.post(
        f"{pair.b}/api/v1/_probe/slow",
        json={"gate": str(gate), "other": 1},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert misuse.status_code == 422
    assert misuse.json()["error"]["code"] == "idempotency_key_reused"


def _wait_for_claim(database_url: str, key: str) -> None:
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                row = conn.execute(
                    select(IdempotencyKey.response_status).where(IdempotencyKey.key == key)
                ).first()
            if row is not None and row.response_status is None:
                return
            time.sleep(0.05)
        pytest.fail("the first request never claimed its Idempotency-Key")
    finally:
        engine.dispose()
