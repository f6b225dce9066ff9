"""Migration 0003_accounts creates exactly what wallet.accounts.models declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.pool import NullPool

from wallet.accounts.models import ApiToken, LoginThrottle, UserSession
from wallet.db.base import Base
from wallet.db.migrate import downgrade, upgrade
from wallet.db.session import make_engine

OURS = {UserSession.__tablename__, ApiToken.__tablename__, LoginThrottle.__tablename__}


def _diff_for_our_tables(url: str) -> list[object]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()

    def table_of(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:] if isinstance(item, tuple) else ():
            name = getattr(part, "name", None) if not isinstance(part, str) else part
            table = getattr(part, "table", None)
            if table is not None and getattr(table, "name", None) in OURS:
                return str(table.name)
            if name in OURS:
                return str(name)
        return None

    return [d for d in diffs if table_of(d) is not None]


def test_sqlite_migration_matches_models_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url, "0003_accounts")
    assert _diff_for_our_tables(url) == []
    downgrade(url, "0001_foundation")
    engine = make_engine(url, poolclass=NullPool)
    try:
        assert OURS.isdisjoint(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_migration_matches_models(accounts_pg_url: str) -> None:
    assert _diff_for_our_tables(accounts_pg_url) == []
