"""Shared fixtures: databases.

PostgreSQL tests run in a schema of their own per test session so parallel
runs never collide. Without a reachable server they are skipped loudly
locally and fail under ``CI=true``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.pg import DEFAULT_PG, require_postgres, schema_url
from wallet.db.session import make_engine

_require_postgres = require_postgres  # the name older tests import


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """URL of an empty PostgreSQL schema that lives for this test session."""
    admin_url = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield schema_url(admin_url, schema)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_engine(pg_schema_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_schema_url)
    yield engine
    engine.dispose()


# Database fixtures every area shares: a fresh SQLite per test, and the session's
# PostgreSQL schema migrated to head with the real Alembic scripts.
from tests.db.fixtures import pg_factory, pg_migrated_url, sqlite_factory  # noqa: E402

__all__ = ["DEFAULT_PG", "pg_factory", "pg_migrated_url", "sqlite_factory"]
