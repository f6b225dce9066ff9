"""Shared set-up for account and web tests: databases and a cheap hasher."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine, text

import wallet.accounts.models
import wallet.db.models  # noqa: F401 - registers the core tables
from wallet.db.base import Base
from wallet.db.session import make_engine, normalise_url

# Argon2id with small parameters: the same code path, a fraction of the time.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database with every table (core + accounts)."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


@contextmanager
def migrated_pg_schema(admin_url: str) -> Iterator[str]:
    """A PostgreSQL schema of our own, migrated through ``0003_accounts``."""
    from wallet.db.migrate import upgrade

    admin_url = normalise_url(admin_url)
    schema = f"acc_{uuid.uuid4().hex[:12]}"
    admin: Engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in admin_url else "?"
    url = f"{admin_url}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade(url, "0003_accounts")
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pg_admin_url() -> str:
    from tests.conftest import DEFAULT_PG

    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
