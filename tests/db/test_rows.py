"""wallet.db.rows: a row a Core INSERT returned becomes the session's persistent object.

On PostgreSQL and SQLite, with a table of the tests' own: ``adopt`` sends no
SQL, the session then knows the row (``get`` answers from the identity map),
sees no change in it, and writes a later change as an UPDATE of that row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Integer, String, event, insert, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tests.db.fixtures import own_tables
from wallet.db.rows import adopt, table_of
from wallet.db.session import make_engine, make_session_factory, transaction


class _Base(DeclarativeBase):
    pass


class Stall(_Base):
    __tablename__ = "rows_test_stalls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    paid: Mapped[int] = mapped_column(Integer, default=0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with own_tables(request, tmp_path, _Base.metadata) as eng:
        yield eng


def test_an_adopted_row_is_persistent_and_clean_without_a_read(engine: Engine) -> None:
    table = table_of(Stall)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with transaction(make_session_factory(engine)) as session:
        values = session.execute(
            insert(table).returning(*table.c), {"name": "chai"}
        ).one()  # the column default (paid=0) comes back too
        before = len(statements)
        stall = adopt(session, Stall, values._asdict())
        assert len(statements) == before  # no SQL
        state = inspect(stall)
        assert state.persistent and not session.dirty
        assert session.get(Stall, stall.id) is stall and len(statements) == before
        assert (stall.name, stall.paid) == ("chai", 0)
        stall.paid = 250
    with make_session_factory(engine)() as session:
        rows = session.execute(select(Stall.id, Stall.name, Stall.paid)).all()
        assert [tuple(r) for r in rows] == [(stall.id, "chai", 250)]  # one row, updated


def test_a_row_under_a_rolled_back_rows_id_replaces_the_stale_object(tmp_path: Path) -> None:
    """SQLite gives a rolled-back row's id to the next insert: the new row is adopted."""
    engine = make_engine(f"sqlite:///{tmp_path / 'reuse.db'}")
    _Base.metadata.create_all(engine)
    table = table_of(Stall)
    try:
        with transaction(make_session_factory(engine)) as session:
            with contextlib.suppress(RuntimeError), session.begin_nested():
                values = session.execute(insert(table).returning(*table.c), {"name": "gone"})
                gone = adopt(session, Stall, values.one()._asdict())  # still referenced below
                raise RuntimeError("refused: the savepoint rolls back")
            values = session.execute(insert(table).returning(*table.c), {"name": "kept"}).one()
            stall = adopt(session, Stall, values._asdict())
            assert stall.id == gone.id  # the id was reused
            assert session.get(Stall, stall.id) is stall and stall.name == "kept"
        with make_session_factory(engine)() as session:
            assert session.scalars(select(Stall.name)).all() == ["kept"]
    finally:
        engine.dispose()
