"""Migration ``0002_rates`` matches the models and works on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, text

from tests.conftest import _require_postgres
from tests.rates.builders import T0
from wallet.db.base import Base
from wallet.db.migrate import downgrade, upgrade
from wallet.db.session import make_engine, make_session_factory
from wallet.rates.breakers import SqlPauseStore
from wallet.rates.history import SqlRateHistory
from wallet.rates.models import MEDIAN_SOURCE, AssetPause, RateCacheEntry, RateHistory
from wallet.rates.types import RateObservation

REVISION = "0002_rates"


def _exercise(url: str) -> None:
    upgrade(url, REVISION)
    engine = make_engine(url)
    try:
        ours = MetaData()
        for model in (RateHistory, RateCacheEntry, AssetPause):
            Base.metadata.tables[model.__tablename__].to_metadata(ours)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            # Other suites' tables show up as "not in our metadata"; ours must match exactly.
            mine = [
                d
                for d in compare_metadata(context, ours)
                if any(n in repr(d) for n in ("rate_history", "rate_cache", "asset_pauses"))
            ]
            assert mine == []
        factory = make_session_factory(engine)
        history = SqlRateHistory(factory)
        huge = Fraction(10**60 + 1, 3 * 10**70)  # exact beyond 64-bit integers
        history.append([RateObservation(MEDIAN_SOURCE, "SHIB", huge, T0)])
        assert history.window("SHIB", T0 - timedelta(seconds=1)) == [(T0, huge)]
        store = SqlPauseStore(factory)
        store.open("BONK", "thin", T0)
        assert store.open("BONK", "lagging", T0).reason == "lagging"  # still one open pause
        store.close("BONK", T0 + timedelta(seconds=1))
        assert store.active("BONK") is None
    finally:
        engine.dispose()
    downgrade(url, "0001_foundation")


def test_migration_on_sqlite(tmp_path: Path) -> None:
    _exercise(f"sqlite:///{tmp_path / 'migrated.db'}")


@pytest.fixture
def pg_fresh_schema_url() -> Iterator[str]:
    """A schema of this test's own (the session schema may be migrated by other suites)."""
    admin_url = _require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{admin_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_migration_on_postgres(pg_fresh_schema_url: str) -> None:
    _exercise(pg_fresh_schema_url)
