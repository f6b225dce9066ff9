"""Issue 9: no secret in any log, from a full run of every process.

The real stack on free ports: the RazorpayX and exchange stand-ins (with
keys of this test's own), ``dagster dev`` (webserver + daemon) and the Flask
app under gunicorn with production's flags (access log on stdout), over a
PostgreSQL schema whose URL carries a password, with a known master key and
session secret. Over HTTP: a merchant signs up, sets up the shop, creates a
webhook endpoint (its signing secret shown once) and an API key; a payer
signs up, gets tokens, fails a sign-in, sends a bad bearer token and puts a
token and a password in query strings; an admin stores a venue's API keys;
the payer pays the merchant's VPA from a custodial balance and Dagster
settles it to a RazorpayX payout, and the merchant's endpoint receives the
signed webhooks.

Then every byte those processes wrote — gunicorn's stdout and stderr,
``dagster dev``'s output, the whole ``DAGSTER_HOME`` (run and event logs,
sensor ticks, compute logs; SQLite dumped row by row), ``VAR_DIR`` and the
stand-ins' logs — is scanned for every secret, raw, JSON-escaped,
URL-encoded, hex, base64 and base64url (see :mod:`tests.security_scan`),
and for the custody mnemonic as a run of words.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from sandbox.exchange.testing import start_exchange, stop_exchange
from sandbox.razorpayx.testing import start_razorpayx, stop_razorpayx
from sandbox.testing import free_port
from taskforce.harness import dagster_dev, fund
from tests.conftest import _require_postgres
from tests.security_scan import Phrase, Scanner, Secret
from tests.settlement.helpers import fresh_pg_schema
from wallet.assets import ChainFamily
from wallet.config import Settings
from wallet.db.models import Role
from wallet.db.session import make_engine, make_session_factory, transaction

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
pytestmark = [pytest.mark.slow, pytest.mark.postgres]

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SHOWN_ONCE = re.compile(r'<code class="token">([^<]+)</code>')


def _secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(18)}"


def _password(who: str) -> str:
    # Spaces and symbols: the URL- and JSON-encoded forms differ from the raw one.
    return f"{who} Pw/{secrets.token_urlsafe(9)}+&=!"


class Known:
    """Every secret this run creates or is handed, by name."""

    def __init__(self) -> None:
        self.values: dict[str, str | bytes] = {}

    def add(self, name: str, value: str | bytes) -> str | bytes:
        assert value, f"{name} is empty"
        self.values[name] = value
        return value


class Receiver:
    """The merchant's webhook endpoint: records each signed POST."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/taskforce"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def gunicorn(port: int, env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The web tier as deploy/k8s runs it (access log on stdout), stdout and stderr apart."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "web.stdout.log").open("wb") as out, (logs / "web.stderr.log").open("wb") as err:
        proc = subprocess.Popen(
            [
                str(GUNICORN),
                "--workers=2",
                f"--bind=127.0.0.1:{port}",
                "--timeout=60",
                "--graceful-timeout=5",
                "--access-logfile=-",
                "webapp:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait(predicate: Callable[[], Any], timeout: float, what: str, *procs: Any) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args!r} exited while waiting for {what}")
        with contextlib.suppress(httpx.HTTPError):
            got = predicate()
            if got:
                return got
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def _csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    match = _CSRF.search(page.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _browser(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, trust_env=False, timeout=30, follow_redirects=False)


def _sign_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    token = _csrf(client, "/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"}
    )


def _custody_mnemonics(factory: Any, master: bytes) -> dict[ChainFamily, list[str]]:
    """Decrypt each family's seed phrase with the master key, as the signer would."""
    from wallet.custody.kms import LocalKeyManager, open_sealed
    from wallet.custody.models import CustodyKey
    from wallet.custody.vault import _wrapped, data_key_context, seed_context

    kms = LocalKeyManager(master)
    phrases: dict[ChainFamily, list[str]] = {}
    with factory() as session:
        for row in session.scalars(select(CustodyKey)):
            family = ChainFamily(row.family)
            data_key = kms.unwrap(_wrapped(row), data_key_context(family))
            words = open_sealed(
                data_key, row.seed_nonce, row.seed_ciphertext, seed_context(family)
            ).decode()
            phrases[family] = words.split()
    return phrases


def test_no_secret_reaches_any_log_of_a_full_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = Known()
    master_raw = secrets.token_bytes(32)
    session_raw = secrets.token_bytes(32)
    master = str(known.add("WALLET_MASTER_KEY", base64.b64encode(master_raw).decode()))
    session_secret = str(known.add("SECRET_KEY", base64.b64encode(session_raw).decode()))
    known.add("master key bytes", master_raw)
    known.add("session key bytes", session_raw)
    rzp_key_id = f"rzp_test_{secrets.token_hex(7)}"
    rzp_secret = str(known.add("RAZORPAYX_KEY_SECRET", _secret("rzpx")))
    rzp_webhook_secret = str(known.add("RAZORPAYX_WEBHOOK_SECRET", _secret("rzpwh")))
    binance_key, binance_secret = _secret("bnkey"), str(known.add("binance secret", _secret("bn")))
    inr_key, inr_secret = (
        _secret("inrkey"),
        str(known.add("INR_EXCHANGE_API_SECRET", _secret("in"))),
    )
    db_password = str(known.add("database password", _secret("pg")))
    btc_password = str(known.add("BTC RPC password", _secret("btc")))

    # PostgreSQL over a URL with a password (trust auth ignores it; the logs must too).
    admin_url = make_url(_require_postgres()).set(password=db_password)
    monkeypatch.setenv("SANDBOX_ENDPOINTS_FILE", str(tmp_path / "no-endpoints.json"))
    stack = contextlib.ExitStack()
    with stack:
        db_url = stack.enter_context(
            fresh_pg_schema(admin_url.render_as_string(hide_password=False))
        )
        web_port, dead_port = free_port(), free_port()
        base = f"http://127.0.0.1:{web_port}"
        standins = tmp_path / "standins"
        rzp_proc, rzp = start_razorpayx(
            standins,
            webhook_url=f"{base}/webhooks/razorpayx",
            extra_args=[
                "--key-id", rzp_key_id, "--key-secret", rzp_secret,
                "--webhook-secret", rzp_webhook_secret, "--process-delay", "0.2",
            ],
        )  # fmt: skip
        stack.callback(stop_razorpayx, rzp_proc)
        venues: dict[str, dict[str, Any]] = {}
        for venue, key, secret in (
            ("binance", binance_key, binance_secret),
            ("inr", inr_key, inr_secret),
        ):
            proc, info = start_exchange(
                standins, venue=venue, extra_args=["--api-key", key, "--api-secret", secret]
            )
            stack.callback(stop_exchange, proc)
            venues[venue] = info

        var = tmp_path / "var"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DAGSTER_", "TASKFORCE_"))
            and k not in {"DATABASE_URL", "REDIS_URL", "SENTRY_DSN"}
        }
        env.update(
            ENVIRONMENT="dev",
            LOG_LEVEL="DEBUG",
            PYTHONUNBUFFERED="1",
            DAGSTER_HOME=str(tmp_path / "dagster"),
            DATABASE_URL=db_url,
            VAR_DIR=str(var),
            SANDBOX_ENDPOINTS_FILE=str(tmp_path / "no-endpoints.json"),
            WALLET_MASTER_KEY=master,
            SECRET_KEY=session_secret,
            RAZORPAYX_URL=rzp["url"],
            RAZORPAYX_KEY_ID=rzp_key_id,
            RAZORPAYX_KEY_SECRET=rzp_secret,
            RAZORPAYX_WEBHOOK_SECRET=rzp_webhook_secret,
            RAZORPAYX_ACCOUNT_NUMBER=rzp["credentials"]["account_number"],
            EXCHANGE_URL=venues["binance"]["url"],  # its keys come from the admin panel
            INR_EXCHANGE_URL=venues["inr"]["url"],
            INR_EXCHANGE_API_KEY=inr_key,
            INR_EXCHANGE_API_SECRET=inr_secret,
            COINBASE_URL="",
            # No chain nodes in this run: the chain sensors fail, and their errors are logged.
            ETH_RPC_URL=f"http://127.0.0.1:{dead_port}",
            SOL_RPC_URL=f"http://127.0.0.1:{dead_port}",
            BTC_RPC_URL=f"http://rpcuser:{btc_password}@127.0.0.1:{dead_port}",
            DOGE_RPC_URL=f"http://rpcuser:{btc_password}@127.0.0.1:{dead_port}",
            WEB_HOST="127.0.0.1",
            WEB_PORT=str(web_port),
            SETTLEMENT_SELL_WINDOW_SECONDS="1",
        )

        # What `taskforce run` does before it starts the processes: migrations (above),
        # custody seeds under the master key, and (here) one admin account.
        from taskforce.bootstrap import init_custody
        from wallet.accounts.service import create_user

        settings = Settings(
            _env_file=None, database_url=db_url, var_dir=var, wallet_master_key=master
        )
        init_custody(settings)
        engine = make_engine(db_url)
        stack.callback(engine.dispose)
        factory = make_session_factory(engine)
        # Each phrase is looked for as a run of its words and, joined, in every encoding.
        mnemonics = _custody_mnemonics(factory, master_raw)
        assert len(mnemonics) == 3 and all(len(w) == 24 for w in mnemonics.values())
        phrases = [Phrase(f"{f.value} mnemonic", tuple(w)) for f, w in mnemonics.items()]
        admin_email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
        admin_password = str(known.add("admin password", _password("Admin")))
        with transaction(factory) as session:
            create_user(session, admin_email, admin_password, Role.ADMIN)

        receiver = Receiver()
        stack.callback(receiver.close)
        dagster_proc, dagster_port = stack.enter_context(dagster_dev(tmp_path, env))
        web_env = {**env, "DAGSTER_PORT": str(dagster_port)}
        web = stack.enter_context(gunicorn(web_port, web_env, var / "logs"))
        _wait(lambda: httpx.get(f"{base}/healthz", timeout=2).is_success, 90, "gunicorn", web)

        # --- a merchant: sign-up, shop, webhook endpoint, API key -------------------
        merchant = stack.enter_context(_browser(base))
        m_email = f"shop-{uuid.uuid4().hex[:8]}@example.com"
        m_password = str(known.add("merchant password", _password("Shop")))
        signup = merchant.post(
            "/signup",
            data={
                "email": m_email, "password": m_password, "role": "merchant",
                "csrf_token": _csrf(merchant, "/signup"),
            },
        )  # fmt: skip
        assert signup.status_code == 302, signup.text
        vpa = f"shop.{uuid.uuid4().hex[:6]}@okaxis"
        shop = {"display_name": "Chai Corner", "vpa": vpa}
        token = _csrf(merchant, "/merchant/setup")
        assert (
            merchant.post("/merchant/setup", data={**shop, "csrf_token": token}).status_code == 200
        )
        made = merchant.post(
            "/merchant/setup", data={**shop, "step": "confirm", "csrf_token": token}
        )
        assert made.status_code == 302, made.text
        hooks = merchant.post(
            "/merchant/webhooks",
            data={
                "url": receiver.url,
                "events": ["payment.confirmed", "payment.paid_out"],
                "csrf_token": _csrf(merchant, "/merchant/webhooks"),
            },
        )
        assert hooks.status_code == 200, hooks.text
        webhook_secret = str(
            known.add("merchant webhook secret", _SHOWN_ONCE.findall(hooks.text)[0])
        )
        keys = merchant.post(
            "/merchant/api-keys",
            data={
                "name": "billing", "scopes": ["payments:read"],
                "csrf_token": _csrf(merchant, "/merchant/api-keys"),
            },
        )  # fmt: skip
        assert keys.status_code == 200, keys.text
        merchant_key = str(known.add("merchant API key", _SHOWN_ONCE.findall(keys.text)[0]))

        # --- a payer: API sign-up and tokens, failures, query-string secrets --------
        api = stack.enter_context(httpx.Client(base_url=base, trust_env=False, timeout=30))
        p_email = f"payer-{uuid.uuid4().hex[:8]}@example.com"
        p_password = str(known.add("payer password", _password("Payer")))
        made = api.post("/api/v1/auth/signup", json={"email": p_email, "password": p_password})
        assert made.status_code == 201, made.text
        payer_id = made.json()["user"]["id"]
        signup_token = str(known.add("sign-up token", made.json()["token"]))
        issued = api.post(
            "/api/v1/auth/token", json={"email": p_email, "password": p_password, "name": "cli"}
        )
        assert issued.status_code == 200, issued.text
        api_token = str(known.add("API token", issued.json()["token"]))
        typo = str(known.add("mistyped password", p_password[:-3] + "?#x"))
        wrong = api.post("/api/v1/auth/token", json={"email": p_email, "password": typo})
        assert wrong.status_code == 401
        bogus = str(known.add("bogus bearer token", "tfw_" + secrets.token_urlsafe(32)))
        bad = api.get("/api/v1/wallet", headers={"Authorization": f"Bearer {bogus}"})
        assert bad.status_code == 401
        # Careless clients: a token and a password in query strings.
        assert api.get("/api/v1/wallet", params={"access_token": api_token}).status_code == 401
        assert api.get("/api/v1/wallet", params={"key": signup_token}).status_code == 401
        got = api.get("/login", params={"email": p_email, "password": p_password})
        assert got.status_code == 200

        payer = stack.enter_context(_browser(base))
        assert _sign_in(payer, p_email, typo).status_code == 401  # the HTML form, too
        assert _sign_in(payer, p_email, p_password).status_code == 302
        page = payer.post(
            "/account/tokens", data={"name": "laptop", "csrf_token": _csrf(payer, "/account")}
        )
        assert page.status_code == 200, page.text
        known.add("web-issued token", _SHOWN_ONCE.findall(page.text)[0])
        for name in ("tfw_session",):
            known.add(f"payer {name} cookie", payer.cookies[name])

        # --- an admin stores the Binance venue's keys ---------------------------------
        admin = stack.enter_context(_browser(base))
        assert _sign_in(admin, admin_email, admin_password).status_code == 302
        saved = admin.post(
            "/admin/exchange-accounts",
            data={
                "venue": "binance", "label": "main", "api_key": binance_key,
                "api_secret": binance_secret,
                "csrf_token": _csrf(admin, "/admin/exchange-accounts"),
            },
        )  # fmt: skip
        assert saved.status_code == 302
        assert "saved" in admin.get("/admin/exchange-accounts").text

        # --- the payment: quote (once the rates sensor has run), pay, settle ------------
        with transaction(factory) as session:
            fund(session, payer_id, "SOL", 10 * 10**9)
        bearer = {"Authorization": f"Bearer {api_token}"}
        upi = f"upi://pay?pa={vpa}&pn=Chai%20Corner&am=500.00&cu=INR"

        def quote() -> dict[str, Any] | None:
            r = api.post("/api/v1/quotes", json={"upi_uri": upi, "asset": "SOL"}, headers=bearer)
            return r.json() if r.status_code == 201 else None

        q = _wait(quote, 120, "a quote (fresh rates)", web, dagster_proc)
        paid = api.post(
            "/api/v1/payments",
            json={"quote_id": q["id"], "source": "custodial"},
            headers={**bearer, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert paid.status_code == 201, paid.text
        payment_id = paid.json()["id"]

        def completed() -> bool:
            r = api.get(f"/api/v1/payments/{payment_id}", headers=bearer)
            return r.json()["status"] == "completed"

        _wait(completed, 150, f"payment {payment_id} to complete", web, dagster_proc)

        def webhook_delivered() -> bool:
            return any(
                h.get("taskforce-event-type") == "payment.paid_out" for h, _b in receiver.received
            )

        _wait(webhook_delivered, 60, "the paid_out webhook", web, dagster_proc)
        from wallet.merchants.webhooks import verify

        for headers, body in receiver.received:
            assert verify(
                webhook_secret.encode(), headers["taskforce-signature"], body, now=int(time.time())
            )
        listed = api.get(
            "/api/v1/merchant/payments", headers={"Authorization": f"Bearer {merchant_key}"}
        )
        assert listed.status_code == 200 and payment_id in listed.text

    # --- every process has stopped: scan everything they wrote ---------------------
    roots = [
        var,
        tmp_path / "dagster",
        tmp_path / "dagster.log",
        *sorted(standins.rglob("stand-in.log")),
    ]
    scanner = Scanner([*(Secret(name, value) for name, value in known.values.items()), *phrases])
    findings, scanned = scanner.scan_paths(roots)
    names = {p.name for p in scanned}
    assert {"web.stdout.log", "web.stderr.log", "dagster.log", "stand-in.log"} <= names
    assert any(p.suffix == ".db" for p in scanned), "no Dagster storage was scanned"
    # Positive control: the same scan does find what the run did write down — the
    # payment in the access log, the app's JSON log and Dagster's run storage.
    control, _ = Scanner([Secret("payment id", payment_id)]).scan_paths(roots)
    where = {Path(f.where.split(" [")[0]).name for f in control}
    assert {"web.stdout.log", "web.stderr.log"} <= where, where
    assert any(".db" in f.where for f in control), "the settlement run is not in the storage"
    # The careless query strings reached the access log, masked.
    access = (var / "logs" / "web.stdout.log").read_text()
    assert "/api/v1/wallet?access_token=[REDACTED]" in access
    assert findings == [], "secrets leaked:\n" + "\n".join(str(f) for f in findings[:40])
