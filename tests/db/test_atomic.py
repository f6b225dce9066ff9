"""wallet.db.atomic: a savepoint only where one is needed, and a poisoned commit refused.

On PostgreSQL and SQLite, with a table of the tests' own: a plain
transaction gets a real savepoint (a failed block leaves nothing and the
rest commits); an all-or-nothing one sends no SAVEPOINT, and once a block
failed in it, a caller who swallows the error cannot commit anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Integer, String, event, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from tests.db.fixtures import own_tables
from wallet.db.atomic import PoisonedTransaction, all_or_nothing, atomic, is_all_or_nothing
from wallet.db.session import make_session_factory, transaction


class _Base(DeclarativeBase):
    pass


class Note(_Base):
    __tablename__ = "atomic_test_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(40))


class Refused(Exception):
    pass


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with own_tables(request, tmp_path, _Base.metadata) as eng:
        yield eng


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def savepoints(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def _spy(_c: object, _cur: object, statement: str, *_a: object) -> None:
        if "SAVEPOINT" in statement.upper():
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", _spy)
    yield seen
    event.remove(engine, "before_cursor_execute", _spy)


def _texts(factory: sessionmaker[Session]) -> list[str]:
    with factory() as s:
        return sorted(s.scalars(select(Note.text)))


def _add_then_refuse(s: Session, text: str) -> None:
    with atomic(s):
        s.add(Note(text=text))
        s.flush()
        raise Refused(text)


def test_a_plain_transaction_gets_a_savepoint_and_keeps_the_rest(
    factory: sessionmaker[Session], savepoints: list[str]
) -> None:
    with transaction(factory) as s:
        s.add(Note(text="before"))
        with pytest.raises(Refused):
            _add_then_refuse(s, "refused")
        with atomic(s):
            s.add(Note(text="after"))
    assert _texts(factory) == ["after", "before"]
    assert any(sp.upper().startswith("SAVEPOINT") for sp in savepoints)


def test_an_all_or_nothing_transaction_sends_no_savepoint(
    factory: sessionmaker[Session], savepoints: list[str]
) -> None:
    with transaction(factory) as s:
        all_or_nothing(s)
        assert is_all_or_nothing(s)
        with atomic(s):
            s.add(Note(text="one"))
            s.flush()
        with atomic(s):
            s.add(Note(text="two"))
    assert _texts(factory) == ["one", "two"]
    assert savepoints == []


def test_an_error_escaping_rolls_the_whole_transaction_back(
    factory: sessionmaker[Session],
) -> None:
    with pytest.raises(Refused), transaction(factory) as s:
        all_or_nothing(s)
        s.add(Note(text="before"))
        _add_then_refuse(s, "refused")
    assert _texts(factory) == []


def test_a_caller_that_swallows_the_error_cannot_commit_half_a_block(
    factory: sessionmaker[Session],
) -> None:
    with pytest.raises(PoisonedTransaction), transaction(factory) as s:
        all_or_nothing(s)
        s.add(Note(text="before"))
        with contextlib.suppress(Refused):  # carries on as if the block had a savepoint
            _add_then_refuse(s, "half")
        s.add(Note(text="after"))
    assert _texts(factory) == []


def test_the_mark_and_the_poison_end_with_their_transaction(
    factory: sessionmaker[Session], savepoints: list[str]
) -> None:
    with factory() as s:
        all_or_nothing(s)
        with pytest.raises(Refused):
            _add_then_refuse(s, "refused")
        s.rollback()
        assert not is_all_or_nothing(s)
        with s.begin():  # the next transaction on the same session: savepoints again
            with pytest.raises(Refused):
                _add_then_refuse(s, "refused again")
            s.add(Note(text="kept"))
    assert _texts(factory) == ["kept"]
    assert savepoints


def test_inside_a_callers_savepoint_atomic_takes_its_own(
    factory: sessionmaker[Session], savepoints: list[str]
) -> None:
    with transaction(factory) as s:
        all_or_nothing(s)
        with s.begin_nested():
            s.add(Note(text="outer"))
            with pytest.raises(Refused):
                _add_then_refuse(s, "inner")
    assert _texts(factory) == ["outer"]
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Note)) == 1
    assert len([sp for sp in savepoints if sp.upper().startswith("SAVEPOINT")]) == 2
