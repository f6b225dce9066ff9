"""A small closed-loop HTTP load generator for loopback: N connections, bounded in time.

Each connection is a thread with its own keep-alive ``http.client``
connection (re-opened transparently when the server closes it, as
gunicorn's sync workers do after every response) running a *flow* (one or
more requests per iteration) until the deadline or until the flow says it
has nothing left to do. Every request is recorded with its latency and
status. Closed loop: a slow response delays that connection's next
request, so latencies under overload are understated, not invented.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.core import percentile

MAX_SECONDS = 120.0  # no phase may run longer, whatever it is asked


class Exhausted(Exception):
    """Raised by a flow when its connection has no more work."""


@dataclass(frozen=True, slots=True)
class Sample:
    endpoint: str
    seconds: float
    status: int  # 0: the request failed without a response


@dataclass
class PhaseResult:
    label: str
    connections: int
    elapsed: float
    samples: list[Sample] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the generator's own CPU time during the phase

    def ok(self, endpoint: str | None = None) -> list[float]:
        return [
            s.seconds
            for s in self.samples
            if 200 <= s.status < 300 and (endpoint is None or s.endpoint == endpoint)
        ]

    def errors(self, endpoint: str | None = None) -> int:
        return sum(
            1
            for s in self.samples
            if not 200 <= s.status < 300 and (endpoint is None or s.endpoint == endpoint)
        )

    def rate(self, endpoint: str | None = None) -> float:
        return len(self.ok(endpoint)) / self.elapsed if self.elapsed > 0 else 0.0

    def p(self, q: float, endpoint: str | None = None) -> float:
        """Latency percentile in milliseconds."""
        return 1000 * percentile(self.ok(endpoint), q)


class Client:
    """One connection; :meth:`post` records a sample and returns ``(status, JSON or None)``."""

    def __init__(self, host: str, port: int, record: Callable[[Sample], None]) -> None:
        self._conn = http.client.HTTPConnection(host, port, timeout=30)
        self._record = record

    def post(
        self, endpoint: str, path: str, body: Any, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        payload = json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        start = time.perf_counter()
        try:
            self._conn.request("POST", path, payload, all_headers)
            reply = self._conn.getresponse()
            data = reply.read()
            status = reply.status
            if reply.will_close:
                self._conn.close()
        except (OSError, http.client.HTTPException):
            self._conn.close()
            self._record(Sample(endpoint, time.perf_counter() - start, 0))
            return 0, None
        self._record(Sample(endpoint, time.perf_counter() - start, status))
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, None

    def close(self) -> None:
        self._conn.close()


Flow = Callable[[int, Client], None]


def run_phase(
    label: str, host: str, port: int, connections: int, seconds: float, flow: Flow
) -> PhaseResult:
    """Run ``flow`` on ``connections`` connections for ``seconds`` (capped at MAX_SECONDS)."""
    seconds = min(seconds, MAX_SECONDS)
    lock = threading.Lock()
    samples: list[Sample] = []
    finished: list[float] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(connections + 1)
    deadline = [0.0]

    def record(sample: Sample) -> None:
        with lock:
            samples.append(sample)

    def work(index: int) -> None:
        client = Client(host, port, record)
        barrier.wait()
        try:
            while time.perf_counter() < deadline[0]:
                flow(index, client)
        except Exhausted:
            pass
        except BaseException as exc:  # a broken flow must fail the benchmark, not hang it
            failures.append(exc)
        finally:
            client.close()
            with lock:
                finished.append(time.perf_counter())

    threads = [
        threading.Thread(target=work, args=(i,), name=f"load-{i}", daemon=True)
        for i in range(connections)
    ]
    for t in threads:
        t.start()
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for t in threads:
        t.join(seconds + 60)
    if failures:
        raise RuntimeError(f"load flow {label} failed: {failures[0]!r}")
    end = max(finished) if finished else time.perf_counter()
    return PhaseResult(
        label, connections, end - start, samples, cpu_seconds=time.process_time() - cpu0
    )
