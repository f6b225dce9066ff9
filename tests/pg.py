"""PostgreSQL helpers for tests: reach the server, and own a migrated schema.

Most tests share the session's schema (``pg_migrated_url`` in
``tests/conftest.py``). Tests whose subject is whole-table (key rotation,
one custody seed per family, workers claiming every due row) take a schema
of their own with :func:`migrated_schema`, so rows other tests wrote cannot
meet them.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from wallet.db.session import normalise_url

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def pg_admin_url() -> str:
    return normalise_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))


def require_postgres() -> str:
    """The admin URL; skips loudly when unreachable, and fails under ``CI=true``."""
    url = pg_admin_url()
    try:
        probe = create_engine(url, poolclass=NullPool)
        with probe.connect() as conn:
            conn.execute(text("select 1"))
        probe.dispose()
    except Exception as exc:
        message = f"PostgreSQL unreachable at {url}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip("LOUD NOTICE: " + message)
    return url


def schema_url(admin_url: str, schema: str) -> str:
    sep = "&" if "?" in admin_url else "?"
    return f"{admin_url}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def migrated_schema(admin_url: str | None = None, prefix: str = "s") -> Iterator[str]:
    """A new schema migrated to Alembic head, dropped afterwards; yields its URL."""
    from wallet.db.migrate import upgrade

    admin_url = admin_url or require_postgres()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = schema_url(admin_url, schema)
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment in threads; each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # collected for the caller's assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
