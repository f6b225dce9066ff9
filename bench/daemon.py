"""What (2) vendor-paid latency and (4) settlement throughput share.

A sandbox world on free loopback ports: the RazorpayX stand-in posting its
webhooks to a :class:`PayoutSink` in this process (which timestamps every
``payout.*`` event as it arrives, keyed by our payment id, the payout's
``reference_id``), the Binance-style and INR venues, optionally anvil; a
fresh PostgreSQL schema for the app database; and the real ``dagster dev``
(webserver + daemon, :mod:`taskforce.harness`) over them.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.core import scratch_schema


class PayoutSink:
    """A webhook receiver: the first arrival time (perf_counter) of each event per payment."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, float]] = {}
        # Where the product's own webhook handler would get the delivery (set by the world).
        self.forward: Callable[[bytes, Any], object] | None = None
        self.forward_errors = 0
        self.payout_ids: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    sink.record(json.loads(body), at)
                if sink.forward is not None:
                    try:  # what POST /webhooks/razorpayx does in the web app
                        sink.forward(body, self.headers)
                    except Exception:
                        sink.forward_errors += 1

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/razorpayx"

    def record(self, envelope: dict[str, Any], at: float) -> None:
        entity = envelope["payload"]["payout"]["entity"]
        ref = entity.get("reference_id")
        if not ref:
            return
        status = str(envelope["event"]).removeprefix("payout.")
        with self._lock:
            self.seen.setdefault(ref, {}).setdefault(status, at)
            self.payout_ids.setdefault(ref, set()).add(entity["id"])

    def at(self, payment_id: str, status: str) -> float | None:
        with self._lock:
            return self.seen.get(payment_id, {}).get(status)

    def count(self, status: str) -> int:
        with self._lock:
            return sum(1 for events in self.seen.values() if status in events)

    def __enter__(self) -> PayoutSink:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class World:
    tmp: Path
    db_url: str
    rzp: dict[str, Any]
    venues: dict[str, dict[str, Any]]
    sink: PayoutSink
    eth: dict[str, Any] | None = None
    procs: list[Any] = field(default_factory=list)


@contextlib.contextmanager
def sandbox_world(label: str, *, ethereum: bool = False) -> Iterator[World]:
    """Stand-ins on free ports, a webhook sink, a fresh PostgreSQL schema; all gone after."""
    from sandbox.exchange.testing import start_exchange
    from sandbox.razorpayx.testing import start_razorpayx
    from sandbox.testing import stop_standin

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-{label}-")))
        sink = stack.enter_context(PayoutSink())
        _schema, url = stack.enter_context(scratch_schema(label))
        procs: list[Any] = []
        stack.callback(lambda: [stop_standin(p) for p in reversed(procs)])
        # The stand-in's default processing delay (0.3-0.5 s), as `make run` has it.
        rzp_proc, rzp = start_razorpayx(tmp, sink.url)
        procs.append(rzp_proc)
        sink.forward = _webhook_handler(stack, url, rzp)
        venues: dict[str, dict[str, Any]] = {}
        for name in ("binance", "inr"):
            proc, info = start_exchange(tmp, venue=name)
            procs.append(proc)
            venues[name] = info
        eth = None
        if ethereum:
            from sandbox.ethereum.testing import start_ethereum

            eth_proc, eth = start_ethereum(tmp / "eth", block_time=0)
            procs.append(eth_proc)
        yield World(tmp, url, rzp, venues, sink, eth, procs)


def _webhook_handler(
    stack: contextlib.ExitStack, url: str, rzp: dict[str, Any]
) -> Callable[[bytes, Any], object]:
    """The product's payout-webhook handler over the app database (the web app's route)."""
    from wallet.db.session import make_engine, make_session_factory
    from wallet.settlement.webhooks import handle_payout_webhook

    engine = make_engine(url)
    stack.callback(engine.dispose)
    factory = make_session_factory(engine)
    secret = str(
        rzp["credentials"].get("webhook_secret") or rzp["settings"]["razorpayx_webhook_secret"]
    )

    def forward(body: bytes, headers: Any) -> object:
        return handle_payout_webhook(factory, body, headers, secret)

    return forward


def settlement_runs(port: int) -> list[dict[str, Any]]:
    """Every ``settlement_job`` run: id, status, creation/start/end (epoch s), tags."""
    query = """
    query { runsOrError(filter: {pipelineName: "settlement_job"}, limit: 5000) {
      ... on Runs { results { runId status creationTime startTime endTime
                              tags { key value } } } } }
    """
    reply = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=60)
    reply.raise_for_status()
    runs: list[dict[str, Any]] = reply.json()["data"]["runsOrError"]["results"]
    for run in runs:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
    return runs
