"""Every Prometheus series of the platform, by name, in one place.

Two kinds of series:

- **Process metrics** the web tier observes as requests happen (API latency
  and errors). They live in prometheus_client's default registry; under
  gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, before the
  workers start) and every worker's samples are merged at scrape time.
- **State metrics** computed from the database *at scrape time* by
  :class:`StateCollector` (payments by status, latency and step-duration
  histograms from the payments timeline, rates age, float, webhook backlog,
  chain head lag, open incidents). They are the truth in every process and
  need no multiprocess bookkeeping; a run in any Dagster worker shows up.

Units are in the names: ``_seconds``, ``_paise``, ``_blocks``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from wallet.db.base import utcnow
from wallet.observability import signals

NS = "taskforce"
PAYMENTS = f"{NS}_payments"
QUOTE_TO_PAID_OUT = f"{NS}_quote_to_paid_out_seconds"
SETTLEMENT_STEP = f"{NS}_settlement_step_seconds"
CHAIN_HEAD_LAG = f"{NS}_chain_head_lag_blocks"
CHAIN_NODE_UP = f"{NS}_chain_node_up"
RATES_AGE = f"{NS}_rates_age_seconds"
FLOAT_BALANCE = f"{NS}_float_balance_paise"
WEBHOOK_BACKLOG = f"{NS}_webhook_backlog"
WEBHOOK_OLDEST = f"{NS}_webhook_backlog_oldest_seconds"
STUCK_PAYMENTS = f"{NS}_payments_stuck"
ALERTS_OPEN = f"{NS}_alert_incidents_open"
COLLECTOR_UP = f"{NS}_state_collector_up"
HTTP_REQUESTS = f"{NS}_http_requests_total"
HTTP_LATENCY = f"{NS}_http_request_duration_seconds"

QUOTE_TO_PAID_OUT_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
STEP_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ApiMetrics:
    requests: Counter
    latency: Histogram

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """One finished request; ``endpoint`` is the route template, never the raw path."""
        self.requests.labels(method, endpoint, str(status)).inc()
        self.latency.labels(method, endpoint).observe(seconds)


@cache
def api_metrics() -> ApiMetrics:
    """The request metrics, created on first use in the default registry."""
    return ApiMetrics(
        Counter(
            HTTP_REQUESTS,
            "HTTP requests served, by route template and status code.",
            ("method", "endpoint", "status"),
        ),
        Histogram(
            HTTP_LATENCY,
            "HTTP request latency by route template.",
            ("method", "endpoint"),
            buckets=HTTP_BUCKETS,
        ),
    )


class _TtlCache:
    """One value per key, recomputed at most every ``ttl`` seconds (wire probes)."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._data: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        value = compute()
        with self._lock:
            self._data[key] = (now, value)
        return value


class StateCollector(Collector):
    """Gauges and histograms computed from the database at scrape time.

    ``rate_cache`` (a :class:`~wallet.rates.cache.RateCache`) and
    ``rated_assets`` give rates age; ``chain_heads`` (chain → height or
    None) and ``gateway_balance`` (paise or None) are wire probes, cached
    for ``probe_ttl`` seconds so a scrape storm cannot hammer the nodes.
    A database failure yields ``taskforce_state_collector_up 0`` instead
    of a failed scrape.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        rate_cache: Any | None = None,
        rated_assets: tuple[str, ...] = (),
        chain_heads: Callable[[], Mapping[str, int | None]] | None = None,
        gateway_balance: Callable[[], int | None] | None = None,
        sla_seconds: int = 900,
        probe_ttl: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._factory = factory
        self._rate_cache = rate_cache
        self._assets = rated_assets
        self._heads = chain_heads
        self._balance = gateway_balance
        self._sla = sla_seconds
        self._probes = _TtlCache(probe_ttl)
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to check for duplicates

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        up = GaugeMetricFamily(COLLECTOR_UP, "1 when the database answered this scrape.")
        try:
            with self._factory() as session:
                families = list(self._from_db(session, now))
        except Exception:  # the scrape still answers; the up gauge says why it is thin
            up.add_metric([], 0)
            yield up
            return
        yield from families
        yield from self._from_cache(now)
        yield from self._from_probes(families)
        up.add_metric([], 1)
        yield up

    def _from_db(self, session: Session, now: datetime) -> Iterator[Metric]:
        payments = GaugeMetricFamily(PAYMENTS, "Payments by current status.", labels=["status"])
        for status, count in signals.payments_by_status(session).items():
            payments.add_metric([status], count)
        yield payments

        latency = HistogramMetricFamily(
            QUOTE_TO_PAID_OUT, "Seconds from a payment's quote to its payout being sent."
        )
        counts, total = signals.histogram(
            signals.quote_to_paid_out_seconds(session), QUOTE_TO_PAID_OUT_BUCKETS
        )
        latency.add_metric([], _buckets(QUOTE_TO_PAID_OUT_BUCKETS, counts), total)
        yield latency

        steps = HistogramMetricFamily(
            SETTLEMENT_STEP,
            "Seconds a payment spent before entering each settlement step.",
            labels=["step"],
        )
        by_step: dict[str, list[float]] = {s.value: [] for s in signals.SETTLEMENT_STEPS}
        for step, seconds in signals.settlement_step_seconds(session):
            by_step[step].append(seconds)
        for step, values in by_step.items():
            counts, total = signals.histogram(values, STEP_BUCKETS)
            steps.add_metric([step], _buckets(STEP_BUCKETS, counts), total)
        yield steps

        backlog = signals.outbox_backlog(session, now)
        gauge = GaugeMetricFamily(
            WEBHOOK_BACKLOG, "Outgoing webhooks by outbox status.", labels=["status"]
        )
        for status, count in backlog["counts"].items():
            gauge.add_metric([status], count)
        yield gauge
        yield GaugeMetricFamily(
            WEBHOOK_OLDEST,
            "Age of the oldest pending outgoing webhook.",
            value=backlog["oldest_pending_seconds"],
        )

        float_gauge = GaugeMetricFamily(
            FLOAT_BALANCE, "INR float in paise, by who says so.", labels=["source"]
        )
        float_gauge.add_metric(["ledger"], signals.ledger_float_paise(session))
        yield float_gauge

        yield GaugeMetricFamily(
            STUCK_PAYMENTS,
            "Funded payments past the settlement SLA (see the payments_stuck alert).",
            value=len(signals.stuck_payments(session, now, self._sla)),
        )

        yield _cursor_family(signals.scan_cursors(session))
        yield _open_incidents(session)

    def _from_cache(self, now: datetime) -> Iterator[Metric]:
        if self._rate_cache is None:
            return
        ages = GaugeMetricFamily(
            RATES_AGE, "Age of the cached aggregated rate (+Inf: none).", labels=["asset"]
        )
        try:
            found = signals.rates_age_seconds(self._rate_cache, self._assets, now)
        except Exception:
            found = dict.fromkeys(self._assets)
        for asset, age in found.items():
            ages.add_metric([asset], float("inf") if age is None else age)
        yield ages

    def _from_probes(self, families: list[Metric]) -> Iterator[Metric]:
        if self._balance is not None:
            balance = self._probes.get("balance", self._balance)
            if balance is not None:
                gauge = GaugeMetricFamily(
                    FLOAT_BALANCE + "_gateway",
                    "INR float in paise as RazorpayX reports it.",
                )
                gauge.add_metric([], balance)
                yield gauge
        if self._heads is None:
            return
        heads: Mapping[str, int | None] = self._probes.get("heads", self._heads)
        cursors = next((f for f in families if f.name == f"{NS}_chain_scan_cursor_height"), None)
        cursor = {s.labels["chain"]: s.value for s in cursors.samples} if cursors else {}
        up = GaugeMetricFamily(CHAIN_NODE_UP, "1 when the chain node answered.", labels=["chain"])
        lag = GaugeMetricFamily(
            CHAIN_HEAD_LAG, "Blocks between the node's head and our scanner.", labels=["chain"]
        )
        for chain, height in heads.items():
            up.add_metric([chain], 0 if height is None else 1)
            if height is not None and chain in cursor:
                lag.add_metric([chain], max(height - int(cursor[chain]), 0))
        yield up
        yield lag


def _buckets(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    labels = [repr(float(b)) for b in bounds] + ["+Inf"]
    return list(zip(labels, counts, strict=True))


def _cursor_family(cursors: Mapping[str, int]) -> Metric:
    family = GaugeMetricFamily(
        f"{NS}_chain_scan_cursor_height", "Last block our scanner finished.", labels=["chain"]
    )
    for chain, height in cursors.items():
        family.add_metric([chain], height)
    return family


def _open_incidents(session: Session) -> Metric:
    from sqlalchemy import func, select

    from wallet.alerts.models import AlertIncident, IncidentStatus

    family = GaugeMetricFamily(ALERTS_OPEN, "Open alert incidents by kind.", labels=["kind"])
    rows = session.execute(
        select(AlertIncident.kind, func.count())
        .where(AlertIncident.status == IncidentStatus.OPEN)
        .group_by(AlertIncident.kind)
    )
    for kind, count in rows:
        family.add_metric([kind], int(count))
    return family


class _DefaultRegistryProxy(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def render(state: Collector | None = None) -> tuple[bytes, str]:
    """The Prometheus text exposition: process metrics (merged across gunicorn
    workers when ``PROMETHEUS_MULTIPROC_DIR`` is set) plus ``state``."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistryProxy())
    if state is not None:
        registry.register(state)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def build_state_collector(
    settings: Any, factory: sessionmaker[Session], *, wire_probes: bool = True
) -> StateCollector:
    """The collector wired from settings: rates cache, SLA, chain heads, float."""
    from wallet.observability import probes
    from wallet.observability.config import ObservabilityConfig
    from wallet.rates.cache import make_rate_cache
    from wallet.rates.config import RatesConfig
    from wallet.settlement.config import SettlementConfig

    config = ObservabilityConfig.from_settings(settings)
    rates = RatesConfig.from_settings(settings)
    timeout = config.readiness_timeout_seconds

    def heads() -> dict[str, int | None]:
        found = probes.heads(settings, timeout_s=timeout)
        return {chain: result.value for chain, result in found.items()}

    def balance() -> int | None:
        return probes.payout_gateway(settings, timeout).value

    return StateCollector(
        factory,
        rate_cache=make_rate_cache(rates, factory),
        rated_assets=rates.assets,
        chain_heads=heads if wire_probes else None,
        gateway_balance=balance if wire_probes else None,
        sla_seconds=SettlementConfig.from_settings(settings).payment_sla_seconds,
        probe_ttl=config.chain_head_cache_seconds,
    )
