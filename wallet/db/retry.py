"""Run a unit of work, retrying when the database asks us to.

PostgreSQL aborts one side of a conflict with a serialization failure
(40001, REPEATABLE READ / SERIALIZABLE), a deadlock (40P01) or a lock
timeout (55P03); SQLite reports a busy database. The transaction was rolled
back, so running the whole function again is safe and correct. Anything
else (including every domain error) propagates at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` means "the transaction lost a race; run it again"."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(orig)


def run_in_transaction(
    factory: sessionmaker[Session],
    fn: Callable[[Session], T],
    *,
    retries: int = 8,
    base_delay: float = 0.005,
) -> T:
    """Call ``fn(session)`` in its own transaction; commit, or retry on a lost race.

    ``fn`` must do all its work through ``session`` (it may run several
    times; only the last run commits). Backoff is exponential with jitter
    so that retried transactions do not collide again in lockstep.
    """
    attempt = 0
    while True:
        try:
            with factory() as session, session.begin():
                return fn(session)
        except DBAPIError as exc:
            if attempt >= retries or not is_retryable(exc):
                raise
            attempt += 1
            # Jitter is scheduling, not cryptography.
            time.sleep(base_delay * 2**attempt * random.random())  # noqa: S311
