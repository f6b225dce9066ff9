"""Shared fixtures: databases.

PostgreSQL tests run in a schema of their own per test session so parallel
runs never collide. Without a reachable server they are skipped loudly
locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from wallet.db.session import make_engine, normalise_url

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_admin_url() -> str:
    return normalise_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))


def _require_postgres() -> str:
    url = _pg_admin_url()
    try:
        probe = create_engine(url)
        with probe.connect() as conn:
            conn.execute(text("select 1"))
        probe.dispose()
    except Exception as exc:
        message = f"PostgreSQL unreachable at {url}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip("LOUD NOTICE: " + message)
    return url


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """URL of an empty PostgreSQL schema that lives for this test session."""
    admin_url = _require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in admin_url else "?"
    yield f"{admin_url}{sep}options=-csearch_path%3D{schema}"
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

__all__ = ["pg_factory", "pg_migrated_url", "sqlite_factory"]
