"""Apply Alembic migrations from code (the CLI, ``make run`` and tests).

Same scripts and ``migrations/env.py`` as ``alembic upgrade head``; the
URL is handed over explicitly instead of read from the environment.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` that does not touch logging."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.attributes["url"] = url
    config.attributes["skip_logging"] = True
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Migrate the database at ``url`` up to ``revision`` (default: every head)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (tests, rollbacks)."""
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> set[str]:
    """The revisions (heads) the database at ``url`` is at; empty if unmigrated."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.pool import NullPool

    from wallet.db.session import make_engine

    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
