"""Incidents: fire once, resolve when clear, hold a quiet period, group, share state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from tests.observability.support import sqlite_db
from tests.settlement.helpers import fresh_pg_schema
from wallet.alerts.core import Alert, Severity
from wallet.alerts.models import AlertIncident, IncidentStatus
from wallet.alerts.monitor import Check, Monitor
from wallet.db.session import make_engine, make_session_factory


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []

    def notify(self, alert: Alert, event: str) -> None:
        self.got.append((event, alert.key))


def stale(*assets: str) -> Check:
    return Check(
        "rate_stale",
        tuple(Alert("rate_stale", f"rate_stale:{a}", Severity.CRITICAL, f"{a}") for a in assets),
    )


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_monitor(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[object, sessionmaker[Session] | None]]:
    def build(factory: sessionmaker[Session] | None, inbox: Inbox, clock: Clock) -> Monitor:
        if factory is None:
            return Monitor.in_memory([inbox], quiet_seconds=300, clock=clock)
        return Monitor.in_database(factory, [inbox], quiet_seconds=300, clock=clock)

    if request.param == "memory":
        yield build, None
    elif request.param == "sqlite":
        yield build, sqlite_db(tmp_path)[1]
    else:
        admin = request.getfixturevalue("pg_schema_url").split("?")[0]
        with fresh_pg_schema(admin) as url:
            engine = make_engine(url, poolclass=NullPool)
            yield build, make_session_factory(engine)
            engine.dispose()


def test_fires_once_resolves_after_the_quiet_period_and_refires(make_monitor: tuple) -> None:
    build, factory = make_monitor
    clock, inbox = Clock(), Inbox()
    monitor = build(factory, inbox, clock)

    out = monitor.evaluate(stale("BTC"))
    assert out.opened == ["rate_stale:BTC"] and inbox.got == [("fired", "rate_stale:BTC")]
    for _ in range(3):  # still stale on every sensor tick: counted, not re-sent
        clock.tick(30)
        assert monitor.evaluate(stale("BTC")).repeated == ["rate_stale:BTC"]
    assert len(inbox.got) == 1

    clock.tick(30)
    held = monitor.evaluate(stale())  # clear, but only for 30 s: inside the quiet period
    assert held.held == ["rate_stale:BTC"] and not held.resolved
    clock.tick(60)
    assert monitor.evaluate(stale("BTC")).repeated == ["rate_stale:BTC"]  # a flap: silent
    clock.tick(299)
    assert monitor.evaluate(stale()).held == ["rate_stale:BTC"]
    clock.tick(1)
    assert monitor.evaluate(stale()).resolved == ["rate_stale:BTC"]
    assert inbox.got == [("fired", "rate_stale:BTC"), ("resolved", "rate_stale:BTC")]
    assert monitor.evaluate(stale()).resolved == []  # resolving twice says nothing

    clock.tick(10)
    assert monitor.evaluate(stale("BTC")).opened == ["rate_stale:BTC"]  # a new incident
    assert inbox.got[-1] == ("fired", "rate_stale:BTC")
    if factory is not None:
        with factory() as session:
            row = session.query(AlertIncident).filter_by(key="rate_stale:BTC").one()
            assert row.status is IncidentStatus.OPEN and row.count >= 6


def test_a_check_resolves_only_its_own_kind_and_groups_notifications(make_monitor: tuple) -> None:
    build, factory = make_monitor
    clock, inbox = Clock(), Inbox()
    monitor = build(factory, inbox, clock)
    lag = Check("chain_lag", (Alert("chain_lag", "chain_lag:bitcoin", Severity.CRITICAL, "x"),))
    monitor.evaluate(stale("BTC", "ETH", "SOL"), lag)
    assert inbox.got == [("fired", "rate_stale:group"), ("fired", "chain_lag:bitcoin")]
    clock.tick(600)
    out = monitor.evaluate(stale("ETH"))  # BTC and SOL cleared; chain_lag not evaluated
    assert sorted(out.resolved) == ["rate_stale:BTC", "rate_stale:SOL"]
    assert inbox.got[-1] == ("resolved", "rate_stale:group")
    assert monitor.evaluate(None).resolved == []  # unknown facts change nothing


def test_two_monitors_share_incidents_through_the_database(tmp_path: Path) -> None:
    _, factory = sqlite_db(tmp_path)
    clock, first, second = Clock(), Inbox(), Inbox()
    sensor = Monitor.in_database(factory, [first], quiet_seconds=0, clock=clock)
    other_process = Monitor.in_database(factory, [second], quiet_seconds=0, clock=clock)
    sensor.evaluate(stale("BTC"))
    other_process.evaluate(stale("BTC"))
    assert first.got == [("fired", "rate_stale:BTC")] and second.got == []
    other_process.evaluate(stale())
    assert second.got == [("resolved", "rate_stale:BTC")]


def test_a_check_refuses_alerts_of_another_kind() -> None:
    with pytest.raises(ValueError, match="not 'rate_stale'"):
        Check("rate_stale", (Alert("chain_lag", "chain_lag:x", Severity.WARNING, "x"),))
