"""Readiness and the system-health signals, framework-free.

- :func:`readiness` answers "can this deployment take payments right now?"
  one component at a time: ``{component: {ok, detail, latency_ms, critical}}``.
  ``ok`` is ``True``/``False``, or ``None`` when the component is not
  configured here (no Redis; no Dagster GraphQL URL). The web app's
  ``/readyz`` answers 503 unless every *critical* component is ok.
- :func:`system_signals` is everything the admin "system health" page
  shows: readiness, payments by status, stuck payments, rates age, float,
  webhook backlog, paused assets and open alert incidents — the same
  numbers ``/metrics`` exports and the alert conditions test.

Probes run concurrently with short timeouts, so a dead dependency costs
one timeout, not one per component.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from wallet.db.base import utcnow
from wallet.http import tls_context
from wallet.observability import probes, signals
from wallet.observability.config import ObservabilityConfig
from wallet.observability.probes import ProbeResult

NOT_CRITICAL = frozenset({"dagster"})  # the web tier serves while the daemon restarts


@dataclass(frozen=True)
class DaemonBeat:
    """The latest heartbeat Dagster holds for one daemon type."""

    daemon_type: str
    timestamp: float | None  # unix seconds; None: never beat
    required: bool = True
    daemon_id: str | None = None


class HeartbeatSource(Protocol):
    def daemon_heartbeats(self) -> list[DaemonBeat]: ...


class GraphQLHeartbeats:
    """Daemon health from dagster-webserver's GraphQL API (``instance.daemonHealth``)."""

    QUERY = (
        "{ instance { daemonHealth { allDaemonStatuses "
        "{ daemonType required healthy lastHeartbeatTime } } } }"
    )

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self._url = url
        self._timeout = timeout_s

    def daemon_heartbeats(self) -> list[DaemonBeat]:
        response = httpx.post(
            self._url,
            json={"query": self.QUERY},
            timeout=self._timeout,
            trust_env=False,
            verify=tls_context(),
        )
        response.raise_for_status()
        statuses = response.json()["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
        return [
            DaemonBeat(s["daemonType"], s.get("lastHeartbeatTime"), bool(s["required"]))
            for s in statuses
        ]


class InstanceHeartbeats:
    """Daemon heartbeats straight from a ``DagsterInstance`` (duck-typed here:
    anything with ``get_daemon_heartbeats()`` and ``get_required_daemon_types()``),
    for code that runs inside Dagster and already holds ``context.instance``."""

    def __init__(self, instance: Any) -> None:
        self._instance = instance

    def daemon_heartbeats(self) -> list[DaemonBeat]:
        beats = self._instance.get_daemon_heartbeats()
        required = set(self._instance.get_required_daemon_types())
        out = []
        for daemon_type in sorted(required | set(beats)):
            beat = beats.get(daemon_type)
            out.append(
                DaemonBeat(
                    daemon_type,
                    None if beat is None else float(beat.timestamp),
                    daemon_type in required,
                    None if beat is None else beat.daemon_id,
                )
            )
        return out


def heartbeat_source(settings: Any) -> HeartbeatSource | None:
    """GraphQL when ``dagster_graphql_url`` is configured; otherwise unknown (None)."""
    config = ObservabilityConfig.from_settings(settings)
    if config.dagster_graphql_url:
        return GraphQLHeartbeats(config.dagster_graphql_url, config.readiness_timeout_seconds)
    return None


def dagster_check(
    source: HeartbeatSource | None, max_age_seconds: int, now: float | None = None
) -> ProbeResult:
    """Every required daemon beat within ``max_age_seconds``; ``None`` if unknown."""
    if source is None:
        return ProbeResult(None, "unknown: Dagster is not configured for this process", 0)

    def check() -> tuple[bool, str, int]:
        beats = source.daemon_heartbeats()
        at = time.time() if now is None else now
        stale = sorted(
            b.daemon_type
            for b in beats
            if b.required and (b.timestamp is None or at - b.timestamp > max_age_seconds)
        )
        if not beats:
            return False, "no daemon has ever sent a heartbeat", 0
        if stale:
            return False, f"stale heartbeat: {', '.join(stale)}", len(stale)
        return True, f"{len(beats)} daemons beating", 0

    return probes.timed(check)


def database_check(engine: Engine) -> ProbeResult:
    def check() -> tuple[bool, str, None]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True, engine.dialect.name, None

    return probes.timed(check)


def cache_check(redis_url: str | None, timeout_s: float) -> ProbeResult:
    if not redis_url:
        return ProbeResult(None, "not configured: rates are cached in the database", 0)

    def check() -> tuple[bool, str, None]:
        import redis

        client = redis.Redis.from_url(
            redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        try:
            client.ping()
        finally:
            client.close()
        return True, "PONG", None

    return probes.timed(check)


def _engine_for(settings: Any, timeout_s: float) -> Engine:
    from wallet.db.session import make_engine

    url = settings.resolved_database_url
    args = {"connect_timeout": max(int(timeout_s), 1)} if url.startswith("postgres") else {}
    return make_engine(url, connect_args=args) if args else make_engine(url)


def readiness(
    settings: Any,
    *,
    engine: Engine | None = None,
    heartbeats: HeartbeatSource | None = None,
    components: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Check each component now; see the module docstring for the shape.

    ``engine`` reuses the caller's pool (the web app's); ``heartbeats``
    overrides the Dagster source chosen from settings; ``components``
    narrows the set (default: ``readiness_checks`` from settings).
    """
    config = ObservabilityConfig.from_settings(settings)
    timeout = config.readiness_timeout_seconds
    wanted = tuple(components or config.readiness_checks)
    source = heartbeats if heartbeats is not None else heartbeat_source(settings)
    own_engine = engine is None and "database" in wanted
    db_engine = engine if engine is not None else (
        _engine_for(settings, timeout) if own_engine else None
    )  # fmt: skip
    chain_urls = probes.chain_urls(settings)
    checks: dict[str, Callable[[], ProbeResult]] = {
        "cache": lambda: cache_check(config_redis(settings), timeout),
        "exchange": lambda: probes.http_ok(settings.exchange_url, timeout, "/api/v3/ping"),
        "inr_exchange": lambda: probes.http_ok(settings.inr_exchange_url, timeout, "/api/v3/ping"),
        "payout_gateway": lambda: probes.payout_gateway(settings, timeout),
        "dagster": lambda: dagster_check(source, config.dagster_heartbeat_max_age_seconds),
    }
    if db_engine is not None:
        checks["database"] = lambda: database_check(db_engine)
    for chain, url in chain_urls.items():
        checks[chain] = _chain_probe(chain, url, timeout)
    selected = [name for name in wanted if name in checks]
    try:
        with ThreadPoolExecutor(max_workers=max(len(selected), 1)) as pool:
            futures = {name: pool.submit(checks[name]) for name in selected}
            results = {name: futures[name].result() for name in selected}
    finally:
        if own_engine and db_engine is not None:
            db_engine.dispose()
    return {
        name: {**result.as_json(), "critical": name not in NOT_CRITICAL}
        for name, result in results.items()
    }


def _chain_probe(chain: str, url: str, timeout: float) -> Callable[[], ProbeResult]:
    return lambda: probes.chain_head(chain, url, timeout)


def config_redis(settings: Any) -> str | None:
    return getattr(settings, "redis_url", None)


def is_ready(result: Mapping[str, Mapping[str, Any]]) -> bool:
    """Every critical component answered ok (``None`` — not configured — passes)."""
    return all(c["ok"] is not False for c in result.values() if c.get("critical", True))


def system_signals(
    settings: Any,
    factory: sessionmaker[Session],
    *,
    engine: Engine | None = None,
    heartbeats: HeartbeatSource | None = None,
    now: datetime | None = None,
    probe_chains: bool = True,
) -> dict[str, Any]:
    """What the admin "system health" page renders (JSON-friendly, no secrets).

    ``probe_chains=False`` leaves the chain nodes out of the readiness probes
    (tests and deployments where the web tier cannot reach the nodes)."""
    from wallet.alerts.models import AlertIncident, IncidentStatus
    from wallet.rates.cache import make_rate_cache
    from wallet.rates.config import RatesConfig
    from wallet.settlement.config import SettlementConfig

    now = now or utcnow()
    components = None
    if not probe_chains:
        chains = probes.chain_urls(settings)
        wanted = ObservabilityConfig.from_settings(settings).readiness_checks
        components = [name for name in wanted if name not in chains]
    ready = readiness(settings, engine=engine, heartbeats=heartbeats, components=components)
    rates = RatesConfig.from_settings(settings)
    settlement = SettlementConfig.from_settings(settings)
    out: dict[str, Any] = {"at": now.isoformat(), "ready": is_ready(ready), "components": ready}
    try:
        with factory() as session:
            stuck = signals.stuck_payments(session, now, settlement.payment_sla_seconds)
            out["payments_by_status"] = signals.payments_by_status(session)
            out["stuck_payments"] = [
                {"payment_id": s.payment_id, "status": s.status, "age_seconds": s.age_seconds}
                for s in stuck
            ]
            out["webhook_backlog"] = signals.outbox_backlog(session, now)
            out["float"] = {
                "ledger_paise": signals.ledger_float_paise(session),
                "gateway_paise": ready.get("payout_gateway", {}).get("value"),
                "min_paise": settlement.float_min_paise,
            }
            out["paused_assets"] = signals.open_pauses(session)
            out["scan_cursors"] = signals.scan_cursors(session)
            from sqlalchemy import select

            incidents = session.scalars(
                select(AlertIncident)
                .where(AlertIncident.status == IncidentStatus.OPEN)
                .order_by(AlertIncident.first_at)
            )
            out["open_incidents"] = [
                {
                    "key": i.key,
                    "kind": i.kind,
                    "severity": i.severity,
                    "message": i.message,
                    "since": i.first_at.isoformat(),
                    "count": i.count,
                }
                for i in incidents
            ]
        out["rates_age_seconds"] = signals.rates_age_seconds(
            make_rate_cache(rates, factory), rates.assets, now
        )
        out["rates_max_age_seconds"] = rates.rate_max_age_seconds
    except Exception as exc:  # the page still renders the readiness part
        out["error"] = f"signals unavailable: {type(exc).__name__}"
    return out
