"""``/metrics`` exposes every series with the values the database implies.

Payments are created and moved through the domain layer (intake, then the
one ``transition`` function), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from tests.observability.support import (
    advance,
    backdate_events,
    backdate_quote,
    ops_app,
    settings_for,
    sqlite_db,
)
from tests.settlement.helpers import custodial_payment, fresh_pg_schema
from wallet.db.models.ops import OutboxMessage
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.observability.metrics import StateCollector, build_state_collector
from wallet.payments.states import PaymentStatus as S
from wallet.rates.cache import DatabaseRateCache
from wallet.rates.types import AssetRate

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, sessionmaker[Session]]]:
    if request.param == "sqlite":
        yield sqlite_db(tmp_path)
        return
    admin = request.getfixturevalue("pg_schema_url").split("?")[0]
    with fresh_pg_schema(admin) as url:
        engine = make_engine(url, poolclass=NullPool)
        yield url, make_session_factory(engine)
        engine.dispose()


def test_metrics_after_payments(db: tuple[str, sessionmaker[Session]], tmp_path: Path) -> None:
    url, factory = db
    paid = custodial_payment(factory)
    advance(factory, paid, S.SETTLING, S.PAID_OUT, S.COMPLETED)
    backdate_quote(factory, paid, 42)  # quote → paid out took exactly 42 s
    settling = custodial_payment(factory)
    advance(factory, settling, S.SETTLING)
    stuck = custodial_payment(factory)
    backdate_events(factory, stuck, datetime.now(UTC) - timedelta(hours=2))
    with transaction(factory) as session:
        session.add(OutboxMessage(topic="merchant.webhook", key="k1", payload={}))
        session.add(OutboxMessage(topic="merchant.webhook", key="k2", payload={}))

    settings = settings_for(tmp_path, url)
    app = ops_app(settings)
    app.extensions["ops.state_collector"] = build_state_collector(
        settings, factory, wire_probes=False
    )
    client = app.test_client()
    client.get("/healthz")
    client.get("/no/such/page")
    samples = scrape(client)

    start = custodial_status(factory, stuck)
    assert value(samples, "taskforce_payments", status="completed") == 1
    assert value(samples, "taskforce_payments", status="settling") == 1
    assert value(samples, "taskforce_payments", status=start) == 1
    assert value(samples, "taskforce_payments", status="refunded") == 0
    # The latency histogram: one payment, 42 s, so it sits in the 60 s bucket, not 30 s.
    assert value(samples, "taskforce_quote_to_paid_out_seconds_count") == 1
    assert value(samples, "taskforce_quote_to_paid_out_seconds_sum") == pytest.approx(42, abs=0.01)
    assert value(samples, "taskforce_quote_to_paid_out_seconds_bucket", le="30.0") == 0
    assert value(samples, "taskforce_quote_to_paid_out_seconds_bucket", le="60.0") == 1
    # Settlement steps: two payments entered settling, one was paid out and completed.
    assert value(samples, "taskforce_settlement_step_seconds_count", step="settling") == 2
    assert value(samples, "taskforce_settlement_step_seconds_count", step="paid_out") == 1
    assert value(samples, "taskforce_settlement_step_seconds_count", step="completed") == 1
    assert value(samples, "taskforce_webhook_backlog", status="pending") == 2
    assert value(samples, "taskforce_webhook_backlog", status="dead") == 0
    assert value(samples, "taskforce_payments_stuck") == 1  # funded two hours ago, no outcome
    assert value(samples, "taskforce_float_balance_paise", source="ledger") == 0
    assert value(samples, "taskforce_state_collector_up") == 1
    # API latency and errors, labelled by route template.
    assert value(samples, "taskforce_http_requests_total", method="GET", endpoint="/healthz",
                 status="200") >= 1  # fmt: skip
    assert value(samples, "taskforce_http_requests_total", method="GET",
                 endpoint="<unmatched>", status="404") >= 1  # fmt: skip
    assert value(samples, "taskforce_http_request_duration_seconds_count", method="GET",
                 endpoint="/healthz") >= 1  # fmt: skip


def custodial_status(factory: sessionmaker[Session], payment_id: str) -> str:
    from wallet.db.models.payments import Payment

    with factory() as session:
        return session.get_one(Payment, payment_id).status.value


def test_rates_age_per_asset_and_missing_rate(tmp_path: Path) -> None:
    _, factory = sqlite_db(tmp_path)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    cache = DatabaseRateCache(factory, clock=lambda: now)
    cache.put_rates([AssetRate("BTC", Fraction(5), now - timedelta(seconds=75), ("binance",), now)])
    collector = StateCollector(
        factory, rate_cache=cache, rated_assets=("BTC", "ETH"), clock=lambda: now
    )
    samples = {
        (s.name, s.labels.get("asset")): s.value
        for family in collector.collect()
        for s in family.samples
    }
    assert samples[("taskforce_rates_age_seconds", "BTC")] == 75
    assert samples[("taskforce_rates_age_seconds", "ETH")] == float("inf")


def test_chain_lag_and_gateway_float_from_probes(tmp_path: Path) -> None:
    from wallet.chains.models import ScanCursor

    _, factory = sqlite_db(tmp_path)
    with transaction(factory) as session:
        session.add(ScanCursor(name="bitcoin", height=95, block_hash="00" * 32))
    collector = StateCollector(
        factory,
        chain_heads=lambda: {"bitcoin": 101, "solana": None},
        gateway_balance=lambda: 12_345,
    )
    samples = {
        (s.name, s.labels.get("chain")): s.value
        for family in collector.collect()
        for s in family.samples
    }
    assert samples[("taskforce_chain_head_lag_blocks", "bitcoin")] == 6
    assert samples[("taskforce_chain_node_up", "bitcoin")] == 1
    assert samples[("taskforce_chain_node_up", "solana")] == 0
    assert ("taskforce_chain_head_lag_blocks", "solana") not in samples
    assert samples[("taskforce_float_balance_paise_gateway", None)] == 12_345


def test_a_dead_database_still_answers_the_scrape(tmp_path: Path) -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:9/none", poolclass=NullPool)
    collector = StateCollector(make_session_factory(engine))
    samples = {s.name: s.value for f in collector.collect() for s in f.samples}
    assert samples == {"taskforce_state_collector_up": 0}
