"""Migration 0008_merchant_admin creates exactly what the merchant and admin models declare."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.pool import NullPool

import wallet.admin.models
import wallet.merchants.models  # noqa: F401 - registers the tables compared below
from wallet.db.base import Base
from wallet.db.migrate import downgrade, upgrade
from wallet.db.session import make_engine

OURS = {
    "merchant_payout_accounts",
    "payment_links",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "merchant_api_keys",
    "merchant_event_cursors",
    "pending_approvals",
    "exchange_accounts",
}


def _diffs(url: str) -> list[object]:
    def ours(obj: object, name: str | None, type_: str, _reflected: bool, _other: object) -> bool:
        if type_ == "table":
            return name in OURS
        table = getattr(obj, "table", None)
        return getattr(table, "name", None) in OURS

    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": ours}
            )
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def test_sqlite_migration_matches_models_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0008_merchant_admin")
    assert _diffs(url) == []
    downgrade(url, "0003_accounts")
    engine = make_engine(url, poolclass=NullPool)
    try:
        assert OURS.isdisjoint(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def pg_url(pg_schema_url: str) -> Iterator[str]:
    from tests.accounts.helpers import migrated_pg_schema, pg_admin_url

    with migrated_pg_schema(pg_admin_url()) as url:
        yield url


@pytest.mark.postgres
def test_postgres_migration_matches_models(pg_url: str) -> None:
    upgrade(pg_url, "0008_merchant_admin")
    assert _diffs(pg_url) == []
