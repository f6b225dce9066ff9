"""All of a block or none of it, with a savepoint only where one is needed.

A domain operation (place a hold, open a payment, move its status) must
leave nothing behind when it refuses, so that a caller who catches the
refusal and carries on still holds a consistent transaction. A savepoint
gives that, for two round trips and SQLAlchemy's nested-transaction
bookkeeping: on the custodial payment path, three savepoints were about a
tenth of the request's CPU.

A transaction its owner rolls back whole on any error does not need
them: the block's partial writes go with everything else. The owner says
so with :func:`all_or_nothing`; :func:`atomic` then runs the block
without a savepoint. The promise is enforced, not trusted: an error that
escapes such a block poisons the transaction, and committing it raises
:class:`PoisonedTransaction`. Code that catches the error and carries on
gets a loud failure instead of half a block. Inside a real savepoint (a
caller's ``begin_nested``), :func:`atomic` takes its own savepoint as
before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_ALL_OR_NOTHING = "taskforce_all_or_nothing"
_POISONED = "taskforce_poisoned"


class PoisonedTransaction(RuntimeError):
    """A commit of a transaction in which an atomic block failed without a savepoint."""


def all_or_nothing(session: Session) -> None:
    """Promise that the session's current transaction rolls back whole on any error.

    The mark lasts until that transaction ends. Begins the transaction if
    none is open.
    """
    session.info[_ALL_OR_NOTHING] = session.get_transaction() or session.begin()


def is_all_or_nothing(session: Session) -> bool:
    root = session.get_transaction()
    return root is not None and session.info.get(_ALL_OR_NOTHING) is root


@contextmanager
def atomic(session: Session) -> Iterator[None]:
    """Run the block as one: all of its writes, or none of them.

    A savepoint, unless the transaction is marked :func:`all_or_nothing`
    and no savepoint is open (see the module docstring).
    """
    if not is_all_or_nothing(session) or session.in_nested_transaction():
        with session.begin_nested():
            yield
        return
    try:
        yield
    except BaseException:
        session.info[_POISONED] = session.get_transaction()
        raise


@event.listens_for(Session, "before_commit")
def _refuse_poisoned(session: Session) -> None:
    poisoned = session.info.get(_POISONED)
    if poisoned is not None and poisoned is session.get_transaction():
        raise PoisonedTransaction(
            "an atomic block failed in this all-or-nothing transaction; it must roll back"
        )


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    for mark in (_ALL_OR_NOTHING, _POISONED):
        if session.info.get(mark) is transaction:
            del session.info[mark]
