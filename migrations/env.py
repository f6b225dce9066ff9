"""Alembic environment: one code path for the CLI and for wallet.db.migrate.

The database URL comes from, in order: a URL handed over by
``wallet.db.migrate`` (``config.attributes["url"]``), ``DATABASE_URL`` in
the environment, then the app's settings (SQLite under ``var/`` by
default). SQLite runs in batch mode so that ALTERs work.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool

import wallet.db.all_models  # noqa: F401 - registers every table on the metadata
import webapp.pay.models  # noqa: F401 - the web app's push subscriptions
from wallet.db.base import Base
from wallet.db.session import make_engine

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or os.environ.get("DATABASE_URL")
    if not url:
        from wallet.config import load_settings

        url = load_settings().resolved_database_url
    return str(url)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
