"""``INSERT … ON CONFLICT`` on whichever backend the session is bound to.

ON CONFLICT is dialect syntax in SQLAlchemy; both backends we run on
(PostgreSQL and SQLite) have it, with the same clauses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(session: Session) -> Any:
    """``insert`` of the session's dialect: PostgreSQL's, else SQLite's."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
