"""Fixtures: databases (SQLite per test, a fresh PostgreSQL schema per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from tests.settlement.helpers import fresh_pg_schema, sqlite_factory
from wallet.db.session import make_engine, make_session_factory


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated/created database URL on each backend, empty for this test."""
    if request.param == "sqlite":
        path = tmp_path / "wallet.db"
        engine, _ = sqlite_factory(path)
        engine.dispose()
        yield f"sqlite:///{path}"
        return
    admin = request.getfixturevalue("pg_schema_url").split("?")[0]
    with fresh_pg_schema(admin) as url:
        yield url


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def rzp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """The RazorpayX stand-in (one per module; tests look only at their own payouts)."""
    from sandbox.razorpayx.testing import start_razorpayx, stop_razorpayx

    process, info = start_razorpayx(
        tmp_path_factory.mktemp("rzp"), extra_args=["--process-delay", "0.2"]
    )
    yield info
    stop_razorpayx(process)


@pytest.fixture(scope="module")
def venues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, object]]]:
    """The Binance-style venue and the INR venue."""
    from sandbox.exchange.testing import start_exchange, stop_exchange

    base = tmp_path_factory.mktemp("ex")
    started = {name: start_exchange(base, venue=name) for name in ("binance", "inr")}
    yield {name: info for name, (_p, info) in started.items()}
    for process, _info in started.values():
        stop_exchange(process)
