"""Migrations upgrade from empty and downgrade to base, on SQLite and PostgreSQL.

The migrated schema must match the models (Alembic's own comparison finds
nothing to do), and on PostgreSQL the ledger's functions and triggers must
land in the schema the URL's ``search_path`` names, not in ``public``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

import wallet.db.all_models  # noqa: F401 - registers every table
import webapp.pay.models  # noqa: F401 - the web app's push subscriptions
from wallet.db.base import Base
from wallet.db.migrate import current, downgrade, upgrade
from wallet.db.session import make_engine, normalise_url

REPO = Path(__file__).resolve().parents[1]
MODEL_TABLES = set(Base.metadata.tables)
PG_FUNCTIONS = {"ledger_check_entry_balanced", "reject_mutation", "ledger_guard_hold"}


def _foundation_diffs(url: str) -> list[object]:
    """Differences between the migrated database (at head) and every model."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": _ours})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _ours(name: str | None, type_: str, _parents: object) -> bool:
    # Every table the models declare; alembic's own bookkeeping is not a model.
    return type_ != "table" or name != "alembic_version"


def _tables(url: str) -> set[str]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert current(url) == set()
    upgrade(url)
    assert current(url)
    assert _tables(url) >= MODEL_TABLES
    assert _foundation_diffs(url) == []
    downgrade(url, "base")
    assert current(url) == set()
    assert _tables(url) == {"alembic_version"}
    upgrade(url)
    assert _tables(url) >= MODEL_TABLES


def test_alembic_command_line_uses_database_url(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}"}
    alembic = [sys.executable, "-m", "alembic"]
    done = subprocess.run(
        [*alembic, "upgrade", "heads"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert _tables(f"sqlite:///{db}") >= MODEL_TABLES


@pytest.fixture
def pg_scratch_url(pg_schema_url: str) -> Iterator[str]:
    """A sibling of the session schema, so going down to base disturbs no one."""
    match = re.search(r"search_path%3D(\w+)", pg_schema_url)
    assert match, pg_schema_url
    schema = f"{match.group(1)}_mig"
    scratch = pg_schema_url.replace(match.group(0), f"search_path%3D{schema}")
    admin = create_engine(normalise_url(pg_schema_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield scratch
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _pg_objects(url: str) -> tuple[str, set[str], set[str]]:
    """(current schema, our functions in it, our triggers in it)."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            functions = set(
                conn.execute(
                    text(
                        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n"
                        " ON n.oid = p.pronamespace WHERE n.nspname = :s"
                    ),
                    {"s": schema},
                ).scalars()
            )
            triggers = set(
                conn.execute(
                    text(
                        "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE n.nspname = :s AND NOT t.tgisinternal"
                    ),
                    {"s": schema},
                ).scalars()
            )
    finally:
        engine.dispose()
    return schema, functions, triggers


@pytest.mark.postgres
def test_postgres_upgrade_downgrade_upgrade(pg_scratch_url: str) -> None:
    upgrade(pg_scratch_url)
    schema, functions, triggers = _pg_objects(pg_scratch_url)
    assert schema.endswith("_mig")
    assert functions >= PG_FUNCTIONS
    assert {
        "postings_balanced",
        "journal_entries_balanced",
        "postings_append_only",
        "audit_log_append_only",
        "chain_observations_append_only",
        "ledger_holds_resolve_once",
    } <= triggers
    assert _tables(pg_scratch_url) >= MODEL_TABLES
    assert _foundation_diffs(pg_scratch_url) == []

    downgrade(pg_scratch_url, "base")
    _, functions, triggers = _pg_objects(pg_scratch_url)
    assert not (PG_FUNCTIONS & functions)
    assert not triggers
    assert _tables(pg_scratch_url) == {"alembic_version"}

    upgrade(pg_scratch_url)
    assert _pg_objects(pg_scratch_url)[1] >= PG_FUNCTIONS
