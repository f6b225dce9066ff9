"""(1) Intake: POST /api/v1/quotes and POST /api/v1/payments under gunicorn on PostgreSQL.

Two gunicorn servers with the same settings run side by side on loopback
against one fresh schema: the product (:mod:`bench.intake_app`) and the
framework floor (:mod:`bench.floor_app`, one SQLAlchemy INSERT per
request). The quote path prices against the real exchange stand-ins
(Binance-style and INR venues) through the rates and order-book caches
in PostgreSQL, refreshed every 10 s by this process as the Dagster rates
and order-books sensors would. Traffic looks like many people paying many
vendors: each phase has 100 fresh payers with funded custodial USDC-SPL
balances taking turns on the connections, each paying one of 1,000 random
vendors, so no payer or vendor reaches the risk engine's hourly limits
(20 per payer, 200 per vendor) and no balance row is shared by two
connections.

Per round and per connection count: a floor phase, a quotes phase (each
connection stocks the quotes it created) and a payments phase (each
connection pays its own quotes, custodial, with an ``Idempotency-Key``),
the floor first in odd rounds and last in even ones. Rates are medians
over rounds; latency percentiles pool every request of a kind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from flask import Flask
from sqlalchemy import Engine, event

from bench.anatomy import PhaseAnatomy
from bench.core import REPO, BenchResult, Figure, fmt, median, scratch_schema
from bench.loadgen import Client, Exhausted, PhaseResult, run_phase

ASSET = "USDC-SPL"
UPI_URI = "upi://pay?pa=vendor{n}.stall@okaxis&pn=Vendor&am=50.00&cu=INR"
PAYEES = 1000  # distinct vendors, so no payee nears its hourly risk limit (200)
PER_USER = 15  # payments per payer per phase: under the user's hourly risk limit (20)
PROFILE_USERS = 20  # the profile's and the ladder's payers: under their hourly limits
FUNDING = 10**15  # minor units per payer: never the limit in a bench run
RATIO_TARGET = 0.50
# Command-line markers of the process groups whose CPU a payments phase is split into.
ANATOMY_GROUPS = {"product (gunicorn)": "bench.intake_app", "PostgreSQL": "postgres"}
P99_TARGET_MS = 30.0


@dataclass(frozen=True)
class IntakeScale:
    connections: tuple[int, ...] = (8, 32)
    seconds: float = 8.0
    rounds: int = 2
    workers: int = 4  # gunicorn sync workers, for both servers: 2 x cores
    profile_iterations: int = 40
    users_per_phase: int = 100  # fresh payers per phase: the risk limits count per hour
    instruction_requests: int = 40  # per kind, counted by callgrind (bench/instructions.py)

    @classmethod
    def tiny(cls) -> IntakeScale:
        return cls(
            connections=(2,),
            seconds=1.0,
            rounds=1,
            workers=1,
            profile_iterations=2,
            users_per_phase=4,
            instruction_requests=1,
        )


# -- processes -------------------------------------------------------------------------


def _free_port() -> int:
    from sandbox.manager import free_port

    return free_port()


@contextlib.contextmanager
def gunicorn(
    app_spec: str, env: dict[str, str], workers: int, log: Path, probe: str
) -> Iterator[int]:
    """Serve ``app_spec`` with gunicorn on a free loopback port until the block exits."""
    port = _free_port()
    argv = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers", str(workers), "--worker-class", "sync",
        "--bind", f"127.0.0.1:{port}", "--backlog", "2048", "--timeout", "60",
        app_spec,
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn {app_spec} exited:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app_spec} not answering:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class RatesRefresher:
    """Keeps the rates and order-book caches fresh, as the Dagster sensors do."""

    def __init__(self, settings: Any, engine: Engine, every_s: float = 10.0) -> None:
        self.settings = settings
        self.engine = engine
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rates", daemon=True)

    def refresh(self) -> None:
        from wallet.db.base import utcnow
        from wallet.db.session import make_session_factory
        from wallet.rates.book_cache import make_book_cache, refresh_books
        from wallet.rates.cache import make_rate_cache
        from wallet.rates.clients import build_rate_clients
        from wallet.rates.config import RatesConfig
        from wallet.rates.history import MemoryRateHistory
        from wallet.rates.refresh import refresh_rates

        config = RatesConfig.from_settings(self.settings)
        clients = build_rate_clients(self.settings.exchange_url, self.settings.inr_exchange_url)
        factory = make_session_factory(self.engine)
        try:
            snap = refresh_rates(
                clients.sources,
                make_rate_cache(config, factory),
                MemoryRateHistory(),
                utcnow(),
                config=config,
            )
            books = refresh_books(clients.venues, make_book_cache(config, factory), config=config)
        finally:
            clients.close()
        if ASSET not in snap.rates:
            raise RuntimeError(f"no {ASSET} rate from the exchange stand-ins: {snap.source_errors}")
        if books is None:
            raise RuntimeError("no order books from the exchange stand-ins")

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            with contextlib.suppress(Exception):  # the next phase's errors will show it
                self.refresh()

    def __enter__(self) -> RatesRefresher:
        self.refresh()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def _payers(engine: Engine, count: int, prefix: str = "bench-payer") -> list[tuple[int, str]]:
    """``count`` payers with an API token and a funded custodial balance: (user id, token)."""
    from wallet.accounts.tokens import issue_token
    from wallet.db.models.users import User
    from wallet.db.session import make_session_factory, transaction
    from wallet.ledger import post_entry, user_wallet

    tokens: list[tuple[int, str]] = []
    with transaction(make_session_factory(engine)) as s:
        for i in range(count):
            user = User(email=f"{prefix}-{i}@example.com", password_hash="!", kyc_tier=2)  # noqa: S106 - no login
            s.add(user)
            s.flush()
            tokens.append((user.id, issue_token(s, user, "bench").token))
            post_entry(
                s,
                [
                    (user_wallet(user.id, ASSET), ASSET, -FUNDING),
                    (f"external:bench:funding:{ASSET}", ASSET, FUNDING),
                ],
                kind="bench.funding",
                ref=f"payer-{user.id}",
            )
    return tokens


def stock_quotes(
    engine: Engine, template_id: str, user_id: int, count: int, ttl_s: int = 90
) -> list[str]:
    """``count`` fresh issued quotes for ``user_id``, copies of a real quote the API priced.

    The payments phase pays these, so its rate is not capped by how fast
    quotes can be priced (the quotes phase measures that on its own).
    """
    from sqlalchemy import text

    from wallet.db.models.payments import Quote

    fresh = {"id", "user_id", "status", "expires_at", "created_at"}
    copied = [c.name for c in Quote.__table__.columns if c.name not in fresh]
    columns = ", ".join(["id", "user_id", "status", "expires_at", "created_at", *copied])
    select = ", ".join(
        [
            "gen_random_uuid()::text",
            ":uid",
            "'issued'",
            f"now() + interval '{int(ttl_s)} seconds'",
            "now()",
            *(
                f"'vendor' || floor(random() * {PAYEES})::int || '.stall@okaxis'"
                if c == "payee_vpa"
                else f"q.{c}"
                for c in copied
            ),
        ]
    )
    sql = (
        f"INSERT INTO quotes ({columns}) SELECT {select} "  # noqa: S608 - names from the model
        "FROM quotes AS q, generate_series(1, :n) WHERE q.id = :template RETURNING id"
    )
    with engine.begin() as conn:
        rows = conn.execute(text(sql), {"uid": user_id, "n": count, "template": template_id})
        return [str(r[0]) for r in rows]


# -- flows ---------------------------------------------------------------------------------


def floor_flow(index: int, client: Client) -> None:
    client.post("floor", "/floor", {"note": f"c{index}"})


Pool = list[tuple[int, str]]  # (user id, API token)
Stock = list[list[tuple[str, str]]]  # per connection: (API token, quote id) to pay


def upi_uri() -> str:
    return UPI_URI.format(n=random.randrange(PAYEES))


def quote_flow(pool: Pool, stock: Stock) -> Callable[[int, Client], None]:
    """Each connection quotes for its payers in turn, a random vendor each time."""
    sent = [0] * len(stock)

    def flow(index: int, client: Client) -> None:
        _uid, token = pool[(index + sent[index] * len(stock)) % len(pool)]
        sent[index] += 1
        status, body = client.post(
            "quotes",
            "/api/v1/quotes",
            {"upi_uri": upi_uri(), "asset": ASSET},
            {"Authorization": f"Bearer {token}"},
        )
        if status == 201 and isinstance(body, dict):
            stock[index].append((token, str(body["id"])))

    return flow


def pay_flow(stock: Stock) -> Callable[[int, Client], None]:
    """Each connection pays its stocked quotes (custodial), payers taking turns."""

    def flow(index: int, client: Client) -> None:
        if not stock[index]:
            raise Exhausted
        token, quote_id = stock[index].pop(0)
        client.post(
            "payments",
            "/api/v1/payments",
            {"quote_id": quote_id, "source": "custodial"},
            {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
        )

    return flow


def restock(engine: Engine, template: str, pool: Pool, conns: int) -> Stock:
    """Per connection, ``PER_USER`` fresh quotes for each of its payers, interleaved."""
    stock: Stock = []
    for i in range(conns):
        per_user = [
            [(token, q) for q in stock_quotes(engine, template, uid, PER_USER)]
            for uid, token in pool[i::conns]
        ]
        stock.append([item for batch in zip(*per_user, strict=True) for item in batch])
    return stock


# -- the benchmark -------------------------------------------------------------------------


@dataclass
class Phases:
    """Every phase result, keyed by (kind, connections)."""

    runs: dict[tuple[str, int], list[PhaseResult]]

    def rate(self, kind: str, conns: int) -> float:
        return median([p.rate() for p in self.runs[(kind, conns)]])

    def pooled(self, kind: str, conns: int) -> PhaseResult:
        runs = self.runs[(kind, conns)]
        merged = PhaseResult(kind, conns, sum(p.elapsed for p in runs))
        for p in runs:
            merged.samples.extend(p.samples)
            merged.cpu_seconds += p.cpu_seconds
        return merged


def run(scale: IntakeScale | None = None, plots_dir: Path | None = None) -> BenchResult:
    from bench.floor_app import metadata as floor_metadata
    from sandbox.manager import Sandbox
    from wallet.config import Settings
    from wallet.db.session import make_engine

    scale = scale or IntakeScale()
    result = BenchResult("intake", 1, "Intake: POST quotes + payments under gunicorn")
    runs: dict[tuple[str, int], list[PhaseResult]] = {}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        _schema, url = stack.enter_context(scratch_schema("intake"))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        floor_metadata.create_all(engine)
        var = tmp / "var"
        sandbox = Sandbox(var / "sandbox")
        ports = {name: _free_port() for name in ("exchange", "inr_exchange")}
        sandbox.start(list(ports), ports=ports)
        stack.callback(sandbox.stop)
        settings = Settings(
            _env_file=None,
            var_dir=var,
            database_url=url,
            redis_url=None,
            settlement_worker=True,  # as served (below): no settle-now thread in-process either
            **sandbox.settings(),
        )
        stack.enter_context(RatesRefresher(settings, engine))
        phases_count = scale.rounds * len(scale.connections)
        payers = _payers(engine, phases_count * scale.users_per_phase + PROFILE_USERS)
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        env.update(
            {
                "DATABASE_URL": url,
                "VAR_DIR": str(var),
                "SANDBOX_ENDPOINTS_FILE": str(sandbox.endpoints_file),
                "PYTHONUNBUFFERED": "1",
                # As `make run` and the deploy serve it: the warm settlement worker
                # takes confirmed payments, so a payment launches no Dagster run.
                # (Without it, each web worker's first payment imported dagster in
                # its settle-now thread: ~1 s of CPU holding the GIL mid-phase.)
                "SETTLEMENT_WORKER": "true",
                # Any settle-now submission goes to a closed port, never to a Dagster
                # another run on this machine serves at the default 3000.
                "DAGSTER_PORT": str(_free_port()),
            }
        )
        product = stack.enter_context(
            gunicorn(
                "bench.intake_app:create_app()", env, scale.workers, tmp / "product.log", "/healthz"
            )
        )
        floor = stack.enter_context(
            gunicorn("bench.floor_app:create_app()", env, scale.workers, tmp / "floor.log", "/")
        )
        host = "127.0.0.1"
        phase_no = 0
        anatomies: list[PhaseAnatomy] = []  # the first payments phase at the fewest connections
        for r in range(scale.rounds):
            for conns in scale.connections:
                first = phase_no * scale.users_per_phase
                pool = payers[first : first + scale.users_per_phase]
                phase_no += 1

                def floor_phase(c: int = conns) -> None:
                    runs.setdefault(("floor", c), []).append(
                        run_phase("floor", host, floor, c, scale.seconds, floor_flow)
                    )

                def product_phases(c: int = conns, users: Pool = pool) -> None:
                    stock: Stock = [[] for _ in range(c)]
                    runs.setdefault(("quotes", c), []).append(
                        run_phase(
                            "quotes", host, product, c, scale.seconds, quote_flow(users, stock)
                        )
                    )
                    template = next((q for qs in stock for _t, q in qs), None)
                    if template is None:
                        raise RuntimeError("the quotes phase produced no quote to pay")
                    stock = restock(engine, template, users, c)
                    watch: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
                    if c == min(scale.connections) and not anatomies:
                        watch = PhaseAnatomy(engine, ANATOMY_GROUPS)
                        anatomies.append(watch)
                    with watch:
                        paid = run_phase(
                            "payments", host, product, c, scale.seconds, pay_flow(stock)
                        )
                    runs.setdefault(("payments", c), []).append(paid)

                order = [floor_phase, product_phases]
                for phase in order if r % 2 == 0 else reversed(order):
                    phase()
        phases = Phases(runs)
        try:
            profile = _profile(
                settings, [t for _u, t in payers[-PROFILE_USERS:]], scale.profile_iterations
            )
            profile["ladder"] = cpu_ladder(
                settings, url, [t for _u, t in payers[-PROFILE_USERS:]], scale.profile_iterations
            )
        except Exception as exc:  # the load figures stand without the in-process profile
            profile = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        try:
            profile["instructions"] = instructions_per_request(
                engine, url, var, scale.instruction_requests
            )
        except Exception as exc:  # noted; the other figures stand
            profile["instructions_error"] = f"{type(exc).__name__}: {exc}"[:300]
        _figures(result, phases, scale, profile)
        if anatomies:
            low = min(scale.connections)
            paid = len(runs[("payments", low)][0].ok())
            result.notes.insert(1, anatomy_note(anatomies[0], paid, low))  # after the load table
        if plots_dir is not None:
            result.plots.append(_plot_latency(phases, scale, plots_dir / "intake_latency.png"))
            result.plots.append(_plot_rates(phases, scale, plots_dir / "intake_throughput.png"))
    return result


@contextlib.contextmanager
def in_process_product(settings: Any) -> Iterator[Flask]:
    """The product app as the bench serves it, in this process, access log off (not into
    the bench output); its engine is disposed and the log restored on the way out."""
    from bench.intake_app import BENCH_API_LIMIT
    from webapp import create_app

    app = create_app(settings, RATE_LIMIT_API=BENCH_API_LIMIT)
    access_log = logging.getLogger("webapp.access")
    was_disabled, access_log.disabled = access_log.disabled, True
    try:
        yield app
    finally:
        access_log.disabled = was_disabled
        app.extensions["engine"].dispose()


def _profile(settings: Any, tokens: list[str], iterations: int) -> dict[str, Any]:
    """In-process (Flask test client) quote + payment: SQL statements per request, a profile."""
    with in_process_product(settings) as app:
        return _profile_app(app, tokens, iterations)


def _profile_app(app: Flask, tokens: list[str], iterations: int) -> dict[str, Any]:
    from pyinstrument import Profiler

    engine: Engine = app.extensions["engine"]
    counts = {"quotes": 0, "payments": 0}
    current = ["quotes"]

    def count(*_a: object, **_k: object) -> None:
        counts[current[0]] += 1

    event.listen(engine, "before_cursor_execute", count)
    client = app.test_client()
    spent = {"quotes": 0.0, "payments": 0.0}
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for n in range(iterations):
        auth = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}  # under the risk limits
        current[0] = "quotes"
        t0 = time.perf_counter()
        q = client.post("/api/v1/quotes", json={"upi_uri": upi_uri(), "asset": ASSET}, headers=auth)
        spent["quotes"] += time.perf_counter() - t0
        if q.status_code != 201:
            raise RuntimeError(f"quote failed in-process: {q.status_code} {q.get_data()[:300]!r}")
        current[0] = "payments"
        t0 = time.perf_counter()
        p = client.post(
            "/api/v1/payments",
            json={"quote_id": q.get_json()["id"], "source": "custodial"},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        spent["payments"] += time.perf_counter() - t0
        if p.status_code != 201:
            raise RuntimeError(f"payment failed in-process: {p.status_code} {p.get_data()[:300]!r}")
    profiler.stop()
    event.remove(engine, "before_cursor_execute", count)
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    lines = [ln for ln in text.splitlines() if ln.strip()][3:55]
    root = profiler.last_session.root_frame() if profiler.last_session else None
    return {
        "quotes_sql": counts["quotes"] / iterations,
        "payments_sql": counts["payments"] / iterations,
        "quote_ms": 1000 * spent["quotes"] / iterations,
        "books_ms": 1000 * frame_time(root, "cached_books") / iterations,
        "pricing_ms": 1000 * frame_time(root, "_live_calculator") / iterations,
        "payment_ms": 1000 * spent["payments"] / iterations,
        "profile": "\n".join(lines),
    }


LADDER = (
    ("floor", "the floor: one INSERT, JSON"),
    ("read", "an authenticated read (GET /api/v1/auth/tokens: token check, one list query)"),
    ("quote", "POST /api/v1/quotes"),
    ("payment_no_key", "POST /api/v1/payments without an Idempotency-Key"),
    ("payment", "POST /api/v1/payments with an Idempotency-Key (as the load phases send it)"),
)


def cpu_ladder(settings: Any, url: str, tokens: list[str], iterations: int) -> dict[str, float]:
    """CPU milliseconds per request in-process, no profiler: the floor up to a payment.

    Each rung runs ``iterations`` requests through the Flask test client in
    this process and is timed with ``process_time``, so the figures are the
    Python side's own cost (the part that binds on 2 cores) without gunicorn,
    the loopback or the load generator. The rungs run interleaved, twice;
    the lower of the two passes counts.
    """
    from bench.floor_app import create_app as floor_app

    floor = floor_app(url)
    try:
        with in_process_product(settings) as app:
            return _ladder(app.test_client(), floor.test_client(), tokens, iterations)
    finally:
        floor.extensions["engine"].dispose()


def expect_status(response: Any, status: int, what: str) -> None:
    """Raise unless an in-process (test client) request answered ``status``."""
    if response.status_code != status:
        raise RuntimeError(f"{what}: {response.status_code} {response.get_data()[:300]!r}")


def pay_in_process(
    client: Any, headers: dict[str, str], quote_id: str, *, key: bool, what: str
) -> None:
    """Pay a quote from the custodial balance through the test client (201, or raise)."""
    if key:
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    body = {"quote_id": quote_id, "source": "custodial"}
    expect_status(client.post("/api/v1/payments", json=body, headers=headers), 201, what)


def _ladder(
    product: Any, floor_client: Any, tokens: list[str], iterations: int
) -> dict[str, float]:
    quotes: list[tuple[dict[str, str], str]] = []

    def auth(n: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}

    def expect(response: Any, status: int) -> None:
        expect_status(response, status, "ladder")

    def pay(n: int, key: bool) -> None:
        headers, quote_id = quotes.pop()
        pay_in_process(product, headers, quote_id, key=key, what="ladder")

    def quote(n: int) -> None:
        body = {"upi_uri": upi_uri(), "asset": ASSET}
        response = product.post("/api/v1/quotes", json=body, headers=auth(n))
        expect(response, 201)
        quotes.append((auth(n), response.get_json()["id"]))

    rungs: dict[str, Callable[[int], None]] = {
        "floor": lambda n: expect(floor_client.post("/floor", json={"note": "ladder"}), 201),
        "read": lambda n: expect(product.get("/api/v1/auth/tokens", headers=auth(n)), 200),
        "quote": quote,
        "payment_no_key": lambda n: pay(n, key=False),
        "payment": lambda n: pay(n, key=True),
    }
    best: dict[str, float] = {}
    for name, rung in rungs.items():  # warm each path once (imports, prepared statements)
        if name.startswith("payment"):
            quote(0)
        rung(0)
    for _pass in range(2):
        for name, rung in rungs.items():
            if name.startswith("payment"):  # its quotes are priced outside the timing
                for n in range(iterations):
                    quote(n)
            cpu0 = time.process_time()
            for n in range(iterations):
                rung(n)
            ms = 1000 * (time.process_time() - cpu0) / iterations
            best[name] = min(ms, best.get(name, ms))
    return best


# What is counted besides the floor: the API's fixed cost alone, then the payment.
INSTRUCTION_KINDS = (
    ("read", "an authenticated read (token check, one list query)"),
    ("payment", "a custodial payment"),
)


def instructions_per_request(engine: Engine, url: str, var: Path, n: int) -> dict[str, float]:
    """Python instructions per floor request, authenticated read and custodial payment.

    Counted by callgrind, every kind at once (a child each, on the 2
    cores), each over ``n`` requests after a warm-up. The payments are paid
    by payers of their own, on copies of a quote the quotes phase priced,
    valid long enough for a child's start under valgrind; the reads use
    the same payers' tokens. Empty without valgrind.
    """
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text

    from bench import instructions

    if not instructions.available():
        return {}
    with engine.connect() as conn:
        template = conn.execute(text("SELECT id FROM quotes LIMIT 1")).scalar_one()
    wanted = n + instructions.WARMUP
    pairs: list[tuple[str, str]] = []
    for user_id, token in _payers(engine, -(-wanted // PER_USER), prefix="bench-instr"):
        quotes = stock_quotes(engine, str(template), user_id, PER_USER, ttl_s=1800)
        pairs += [(token, q) for q in quotes]
    base = {"database_url": url, "var_dir": str(var), "n": n, "pairs": pairs[:wanted]}
    specs = {"floor": {**base, "kind": "floor"}}
    specs.update({kind: {**base, "kind": kind} for kind, _what in INSTRUCTION_KINDS})
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        counts = {kind: pool.submit(instructions.count, spec) for kind, spec in specs.items()}
        return {kind: future.result() / n for kind, future in counts.items()}


def anatomy_note(anatomy: PhaseAnatomy, payments: int, conns: int) -> str:
    """The first payments phase at ``conns`` connections: CPU per payment, backends waiting."""
    rows = ["| process group | CPU ms per payment | % of one core |", "|---|---|---|"]
    seconds = max(anatomy.elapsed_s, 1e-9)
    for group, cpu in sorted(anatomy.cpu_s.items(), key=lambda kv: -kv[1]):
        per = 1000 * cpu / max(payments, 1)
        rows.append(f"| {group} | {per:.2f} | {100 * cpu / seconds:.0f} |")
    waits = ["| PostgreSQL backends (average) | wait | on |", "|---|---|---|"]
    for (kind, event_name, query), avg in anatomy.backends()[:6]:
        waits.append(f"| {avg:.2f} | {kind}: {event_name} | {query or '—'} |")
    return (
        f"Where the first payments phase at {conns} connections spent its time "
        f"({payments} payments in {anatomy.elapsed_s:.1f} s; CPU from /proc by command line, "
        f"`pg_stat_activity` sampled every 20 ms, {anatomy.samples} samples; `bench/anatomy.py`):"
        "\n\n" + "\n".join(rows) + "\n\n" + "\n".join(waits)
    )


def frame_time(frame: Any, function: str) -> float:
    """Seconds spent in calls of ``function`` (outermost calls only) under ``frame``."""
    if frame is None:
        return 0.0
    if frame.function == function:
        return float(frame.time)
    return sum(frame_time(child, function) for child in frame.children)


def _figures(result: BenchResult, ph: Phases, scale: IntakeScale, prof: dict[str, Any]) -> None:
    low = min(scale.connections)
    for conns in scale.connections:
        floor = ph.rate("floor", conns)
        for kind in ("payments", "quotes"):
            rate = ph.rate(kind, conns)
            result.figures.append(
                Figure(
                    f"POST /api/v1/{kind} req/s at {conns} connections",
                    rate,
                    floor,
                    "req/s",
                    f"≥ {RATIO_TARGET:.0%} of the floor" if kind == "payments" else "informational",
                    rate / floor >= RATIO_TARGET if kind == "payments" and floor else None,
                    baseline_label="floor: one INSERT, JSON",
                )
            )
    for kind in ("payments", "quotes"):
        pooled, floor_pooled = ph.pooled(kind, low), ph.pooled("floor", low)
        result.figures.append(
            Figure(
                f"POST /api/v1/{kind} p99 at {low} connections",
                pooled.p(99),
                floor_pooled.p(99),
                "ms",
                f"≤ {P99_TARGET_MS:g} ms",
                pooled.p(99) <= P99_TARGET_MS,
                baseline_label="floor p99",
            )
        )
    ladder: dict[str, float] = prof.get("ladder", {})
    if ladder.get("floor"):
        for rung, what in (("read", "an authenticated read"), ("payment", "a custodial payment")):
            result.figures.append(
                Figure(
                    f"CPU per request in-process, {what}",
                    ladder[rung],
                    ladder["floor"],
                    "ms",
                    "informational: the 50% target leaves a payment 2× the floor's",
                    None,
                    baseline_label="the floor's CPU per request",
                )
            )
    counted: dict[str, float] = prof.get("instructions", {})
    if counted.get("floor"):
        for kind, what in INSTRUCTION_KINDS:
            result.figures.append(
                Figure(
                    f"Python instructions per request (callgrind), {what}",
                    counted[kind] / 1e6,
                    counted["floor"] / 1e6,
                    "M",
                    "informational: the host's noise does not move it",
                    None,
                    baseline_label="a floor request's",
                )
            )
    errors = sum(
        ph.pooled(kind, c).errors() for kind in ("quotes", "payments") for c in scale.connections
    )
    floor_errors = sum(ph.pooled("floor", c).errors() for c in scale.connections)
    total = sum(
        len(ph.pooled(kind, c).samples)
        for kind in ("quotes", "payments")
        for c in scale.connections
    )
    result.figures.append(
        Figure(
            f"errors (non-2xx or no answer) in {total:,} product requests",
            errors,
            floor_errors,
            "errors",
            "0",
            errors == 0,
            baseline_label="floor errors",
        )
    )
    table = [
        "| kind | connections | req/s (median of rounds) | p50 ms | p99 ms | errors | "
        "generator CPU, % of one core |",
        "|---|---|---|---|---|---|---|",
    ]
    for conns in scale.connections:
        for kind in ("floor", "quotes", "payments"):
            p = ph.pooled(kind, conns)
            cpu = 100 * p.cpu_seconds / p.elapsed if p.elapsed else 0.0
            table.append(
                f"| {kind} | {conns} | {fmt(ph.rate(kind, conns))} | {fmt(p.p(50))} | "
                f"{fmt(p.p(99))} | {p.errors()} | {cpu:.0f} |"
            )
    result.notes.append(
        f"{scale.rounds} rounds × {scale.seconds:g} s per phase; gunicorn "
        f"`--workers {scale.workers} --worker-class sync` for both servers (sync workers "
        "close the connection after each response, so every request pays a loopback "
        "connect; kept because the deploy image and `taskforce run` serve sync workers too); "
        "one fresh PostgreSQL schema; the product's API rate limit raised for "
        "the run (all connections share 127.0.0.1); `SETTLEMENT_WORKER=true` as `make run` "
        "and the deploy set it, so a payment launches no Dagster run (no worker runs here: "
        "confirmed payments wait). Load generator: "
        "`bench/loadgen.py`, closed loop, a thread and a connection per client, in the "
        "benchmark process on the same 2 cores as the servers and PostgreSQL.\n\n"
        + "\n".join(table)
    )
    result.notes.append(_instructions_note(prof, scale.instruction_requests))
    if "error" in prof:
        result.notes.append(f"In-process profile unavailable in this run: {prof['error']}")
        return
    result.notes.append(
        f"In-process under the profiler (Flask test client, no gunicorn, one thread; "
        "pyinstrument slows it about 2.5×): a quote takes "
        f"{prof['quote_ms']:.1f} ms, of which {prof['pricing_ms']:.1f} ms pricing (the cached "
        f"rate, pause and order books, {prof['books_ms']:.1f} ms of it reading the books, and "
        f"the route sizing), and runs {prof['quotes_sql']:.1f} SQL statements; a custodial "
        f"payment takes {prof['payment_ms']:.1f} ms and runs {prof['payments_sql']:.0f} SQL "
        "statements (auth joined to its user, the idempotency claim as one upsert; then one "
        "transaction with no savepoints: quote lock, ledger hold, awaiting_funds → detected → "
        "confirmed as one move with each step's event and audit row, TDS, the risk limits as "
        "one upsert and the stored response last; the answer is built from the rows written, "
        "not read back; pinned by tests/webapp/test_payment_statement_budget.py); the floor "
        "runs 1."
    )
    if ladder.get("floor"):
        rows = [
            "| request | CPU ms per request | × the floor |",
            "|---|---|---|",
            *(
                f"| {what} | {ladder[name]:.2f} | {ladder[name] / ladder['floor']:.1f} |"
                for name, what in LADDER
                if name in ladder
            ),
        ]
        result.notes.append(
            "CPU per request in-process (`cpu_ladder`: Flask test client, no profiler, "
            "`process_time`, the lower of two interleaved passes):\n\n"
            + "\n".join(rows)
            + "\n\nOn 2 cores the Python side binds, so throughput goes roughly as the inverse "
            "of these figures. Reaching 50% of the floor leaves a payment about twice the "
            f"floor's {ladder['floor']:.2f} ms; an authenticated read that runs no payment "
            f"logic at all already costs {ladder['read'] / ladder['floor']:.1f}× the floor, "
            "and the Idempotency-Key (its claim in a transaction of its own, the stored "
            f"response in the payment's) {_key_cost(ladder)}."
        )
    if any(f.met is False for f in result.figures):
        payment_cpu = ladder.get("payment") or prof["payment_ms"]
        ceiling = 1000 * (os.cpu_count() or 1) / payment_cpu if payment_cpu else 0
        result.notes.append(
            "Target(s) missed. What limits it: a **quote** reads its order books from the "
            "cache the order-books sensor refreshes every 10 s (no venue request per quote); "
            f"pricing is {prof['pricing_ms']:.1f} of its {prof['quote_ms']:.1f} ms in-process "
            "(profiled), the rest is the API token check, the payer's TDS reads and the "
            f"quote's insert. A **payment** costs {payment_cpu:.0f} ms of CPU in the web tier "
            f"for {prof['payments_sql']:.0f} SQL statements, so {os.cpu_count()} cores cap it "
            f"near {ceiling:.0f} payments/s before PostgreSQL (about a quarter as much again, "
            "above) and the load generator take their share; the floor does one statement. "
            "The p99 is queueing: 8 connections share 4 sync workers on 2 cores, so a "
            "request waits for others' CPU, and at 32 connections longer still. Every "
            "payment updates the shared `global` risk-counter rows, locked until its "
            "commit; intake takes them as its last write, so they are held for one "
            "statement and the commit (their waits are in the table above)."
        )
        result.notes.append(
            "Where a quote and a payment spend their time "
            "(pyinstrument, in-process, one thread, quote then payment, repeated):\n\n```\n"
            + prof["profile"]
            + "\n```"
        )


def _instructions_note(prof: dict[str, Any], n: int) -> str:
    counted: dict[str, float] = prof.get("instructions", {})
    if "instructions_error" in prof:
        return f"Instructions per request not counted: {prof['instructions_error']}"
    if not counted.get("floor"):
        return "Instructions per request not counted: valgrind is not installed."
    return (
        "Python instructions per request (`bench/instructions.py`: callgrind with "
        f"instrumentation on for exactly {n} request{'s' if n != 1 else ''} of each kind after "
        "a warm-up, every kind counted at once in a child of its own): a floor request "
        f"{counted['floor'] / 1e6:.2f} M; an authenticated read (`GET /api/v1/auth/tokens`: "
        f"the token check and one list query) {counted['read'] / 1e6:.2f} M "
        f"({counted['read'] / counted['floor']:.1f}×); a custodial payment "
        f"{counted['payment'] / 1e6:.2f} M ({counted['payment'] / counted['floor']:.1f}×). "
        "The read is the API's fixed cost with no payment logic: what any authenticated "
        "endpoint pays before its own work. The count leaves out PostgreSQL and "
        "the kernel's side of each round trip; unlike the CPU ladder below, the host's load "
        "does not move it, so it is the figure to compare between runs."
    )


def _key_cost(ladder: dict[str, float]) -> str:
    """What the Idempotency-Key adds to a payment's CPU, in words (it can be lost in noise)."""
    extra = ladder["payment"] - ladder["payment_no_key"]
    if extra < 0.05 * ladder["payment_no_key"]:
        return f"adds less than this measurement resolves ({extra:+.1f} ms)"
    return f"adds {extra:.1f} ms to a payment"


def _plot_latency(ph: Phases, scale: IntakeScale, path: Path) -> Path:
    from bench.report import plt_figure

    fig, ax = plt_figure(8, 4.6)
    styles = {"floor": "-", "quotes": "--", "payments": "-."}
    for conns in scale.connections:
        for kind, style in styles.items():
            values = sorted(1000 * v for v in ph.pooled(kind, conns).ok())
            if not values:
                continue
            ys = [(i + 1) / len(values) for i in range(len(values))]
            ax.plot(values, ys, style, label=f"{kind}, {conns} conns")
    ax.axvline(P99_TARGET_MS, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (log)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("Intake latency distribution (CDF); grey line: the 30 ms p99 target")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _plot_rates(ph: Phases, scale: IntakeScale, path: Path) -> Path:
    from bench.report import plt_figure

    fig, ax = plt_figure()
    kinds = ("floor", "quotes", "payments")
    width = 0.8 / len(kinds)
    for k, kind in enumerate(kinds):
        xs = [i + (k - 1) * width for i in range(len(scale.connections))]
        ax.bar(xs, [ph.rate(kind, c) for c in scale.connections], width, label=kind)
    ax.set_xticks(range(len(scale.connections)), [f"{c} connections" for c in scale.connections])
    ax.set_ylabel("requests / s (median of rounds)")
    ax.set_title("Intake throughput vs the framework floor, same run")
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
