"""The migrations create exactly the custody and chain tables the models declare, and go back down.

Compared at the head: later revisions (withdrawal review and claims, the sweep
status index) change tables ``0004_custody`` and ``0010_custody_sweeps`` made.
"""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

import wallet.chains.models
import wallet.custody.models
import wallet.db.models  # noqa: F401 - registers the tables
from wallet.db.base import Base
from wallet.db.migrate import downgrade, upgrade
from wallet.db.session import make_engine

TABLES = (
    "custody_keys", "signer_daily_usage", "credit_reversals", "withdrawals",
    "scan_cursors", "scanned_blocks", "chain_broadcasts", "evm_nonces",
)  # fmt: skip


def test_migration_matches_models_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        ours = MetaData()
        for table in Base.metadata.tables.values():  # referenced tables too
            table.to_metadata(ours)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = [
                d
                for d in compare_metadata(context, ours)
                if any(f"'{t}'" in repr(d) or f"{t}." in repr(d) for t in TABLES)
            ]
        assert diffs == []
    finally:
        engine.dispose()
    downgrade(url, "0001_foundation")


def test_sweeps_migration_matches_models_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm10.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        ours = MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(ours)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = [
                d
                for d in compare_metadata(context, ours)
                if any(
                    f"'{t}'" in repr(d) or f"{t}." in repr(d)
                    for t in ("custody_sweeps", "credit_reinstatements")
                )
            ]
        assert diffs == []
    finally:
        engine.dispose()
    downgrade(url, "0006_risk")
