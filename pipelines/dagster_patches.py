"""One narrow patch to Dagster, for the idle cost of sensor ticks in the code server.

For every tick of a sensor with resources, Dagster builds a fresh
``DagsterInstance`` in the code server (``SensorEvaluationContext.resources``
needs ``context.instance``). On the embedded SQLite storage that opens the
run and schedule storages, and each checks its schema with
``check_alembic_revision``, which builds an alembic ``ScriptDirectory`` and
executes every one of Dagster's ~90 migration scripts just to learn the
*head* revision: about 60 ms of CPU per tick, half of an idle code server's
CPU (bench (5), py-spy). The head revision of installed files cannot change
while the process runs, so :func:`install` makes Dagster's storage module get
one ``ScriptDirectory`` per script location and reuse it; the database's own
revision is still read every time, so the check keeps its meaning.

Guarded: if Dagster's module no longer looks as expected (an upgrade moved
things), nothing is patched and ticks simply cost what they cost.
"""

from __future__ import annotations

import threading
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory

_lock = threading.Lock()
_scripts: dict[tuple[str | None, ...], ScriptDirectory] = {}


class _ReusedScriptDirectory:
    """Stands in for ``ScriptDirectory`` in ``dagster._core.storage.sql``: only ``from_config``."""

    @staticmethod
    def from_config(config: Config) -> ScriptDirectory:
        key = (
            config.config_file_name,
            config.get_main_option("script_location"),
            config.get_main_option("version_locations"),
        )
        with _lock:
            script = _scripts.get(key)
            if script is None:
                script = _scripts[key] = ScriptDirectory.from_config(config)
        return script


def install() -> bool:
    """Patch Dagster's schema check to reuse script directories; whether it was patched."""
    try:
        from dagster._core.storage import sql
    except ImportError:
        return False
    current: Any = getattr(sql, "ScriptDirectory", None)
    if current is _ReusedScriptDirectory:
        return True
    if current is not ScriptDirectory or not callable(getattr(sql, "check_alembic_revision", None)):
        return False
    sql.ScriptDirectory = _ReusedScriptDirectory  # type: ignore[misc,assignment]
    return True
