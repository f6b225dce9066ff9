"""Database fixtures for the domain-core tests (imported by each conftest).

- ``sqlite_factory``: a fresh SQLite file with every table, per test.
- ``pg_migrated_url`` / ``pg_factory``: the session's PostgreSQL schema
  (``pg_schema_url`` from tests/conftest.py) migrated to head with the real
  Alembic scripts, so the database-side ledger rules are in force.
  Candidates to hoist into tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData
from sqlalchemy.orm import Session, sessionmaker

import wallet.db.all_models  # noqa: F401 - registers every table
from wallet.db.base import Base
from wallet.db.migrate import upgrade
from wallet.db.session import make_engine, make_session_factory


@contextmanager
def own_tables(
    request: pytest.FixtureRequest, tmp_path: Path, metadata: MetaData
) -> Iterator[Engine]:
    """An engine with a test module's own tables, created afresh and dropped after.

    On SQLite (a file in ``tmp_path``) when ``request.param`` is "sqlite",
    else on the session's PostgreSQL schema.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    engine = make_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        metadata.drop_all(engine)
        engine.dispose()


@pytest.fixture
def sqlite_factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'wallet.db'}")
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def pg_migrated_url(pg_schema_url: str) -> str:
    """The session schema at Alembic head (idempotent: safe to request twice)."""
    upgrade(pg_schema_url)
    return pg_schema_url


@pytest.fixture(scope="session")
def pg_factory(pg_migrated_url: str, pg_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(pg_engine)
