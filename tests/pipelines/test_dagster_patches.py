"""The schema-check patch: script directories reused, the check itself unchanged."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from alembic.script import ScriptDirectory
from dagster._core.storage import sql
from dagster._core.storage.runs.sqlite import sqlite_run_storage

from pipelines import dagster_patches


def test_instances_reuse_one_script_directory_and_still_read_the_database_revision(
    tmp_path: Path,
) -> None:
    assert dagster_patches.install() and dagster_patches.install()  # idempotent
    config = sql.get_alembic_config(sqlite_run_storage.__file__)
    assert sql.ScriptDirectory.from_config(config) is sql.ScriptDirectory.from_config(config)

    home = tmp_path / "dagster"
    home.mkdir()
    ref = dg.DagsterInstance.local_temp(str(home)).get_ref()
    for _ in range(2):  # a sensor tick's instance, twice
        with dg.DagsterInstance.from_ref(ref) as instance:
            storage = instance.run_storage
            assert isinstance(storage, sqlite_run_storage.SqliteRunStorage)
            db_revision, head = storage.alembic_version()
            fresh = ScriptDirectory.from_config(config).as_revision_number("head")
            assert head == fresh
            assert db_revision == head  # a new database is stamped at head
