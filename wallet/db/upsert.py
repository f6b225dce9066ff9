"""``INSERT … ON CONFLICT`` on whichever backend the session is bound to.

ON CONFLICT is dialect syntax in SQLAlchemy; both backends we run on
(PostgreSQL and SQLite) have it, with the same clauses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from wallet.db.rows import table_of


def dialect_name(session: Session) -> str:
    """The name of the session's dialect (``postgresql`` or ``sqlite``)."""
    return session.get_bind().dialect.name


def insert_for(dialect: str) -> Any:
    """``insert`` of the dialect named ``dialect``: PostgreSQL's, else SQLite's.

    For a statement built once per dialect (a cached builder keyed by
    :func:`dialect_name`), so a hot path does not construct it per call.
    """
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def dialect_insert(session: Session) -> Any:
    """``insert`` of the session's dialect: PostgreSQL's, else SQLite's."""
    return insert_for(dialect_name(session))


def insert_unless_taken(
    dialect: str, model: type[Any], unique: Sequence[str], **values: Any
) -> Any:
    """``INSERT … ON CONFLICT (unique) DO NOTHING RETURNING *`` on ``model``'s table.

    For a cached builder keyed by :func:`dialect_name`, with bind parameters
    as ``values``: a row back means this execution inserted it (and is the
    row, for :func:`wallet.db.rows.adopt`); none means the key was taken. A
    concurrent first insert of the key makes PostgreSQL wait for its outcome.
    """
    table = table_of(model)
    return (
        insert_for(dialect)(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[table.c[name] for name in unique])
        .returning(*table.c)
    )
