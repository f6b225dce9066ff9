"""Rows written with Core statements built once, handed back as ORM objects.

On a hot path the ORM's unit of work costs several times a statement's own
CPU, and an entity's DML statement is copied (and its cache key computed
again) on every execution. A module there builds its INSERT once on the
table, with bind parameters and ``RETURNING`` every column, and turns the
returned row into the session's persistent object with :func:`adopt`:
no flush, no read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import Table, inspect
from sqlalchemy.orm import Session, make_transient_to_detached

T = TypeVar("T")


def table_of(model: type[Any]) -> Table:
    """The mapped class's table, for a Core statement built on it."""
    return cast(Table, model.__table__)


def adopt(session: Session, model: type[T], values: Mapping[str, Any]) -> T:
    """The row ``values`` (every column, as ``RETURNING`` gave them) as a persistent
    ``model`` of ``session``, without SQL. The row must exist in the session's
    transaction (it was just written there)."""
    return attach_written(session, model(**values))


def attach_written(session: Session, row: T) -> T:
    """Attach ``row``, built with the values just written for it, as if it were loaded.

    SQLite reuses the id of a rolled-back row, so an object the session
    still holds under that id is stale: it is dropped first.
    """
    make_transient_to_detached(row)
    stale = session.identity_map.get(inspect(row).key)
    if stale is not None and stale is not row:
        session.expunge(stale)
    session.add(row)
    return row
