"""Engines and sessions for PostgreSQL (psycopg 3) and SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

# A pooled connection handed back less than this long ago is taken as alive
# without a ping (HikariCP's "alive bypass window" is 500 ms). A busy web
# worker checks a connection out three or four times per request; pinging each
# time cost a round trip apiece. A connection idle longer is pinged first, so
# after a database restart only a request that draws a connection used within
# the last second fails (once; the pool then replaces it).
PING_IF_IDLE_S = 1.0
_CHECKED_IN = "taskforce_checked_in"


def normalise_url(url: str) -> str:
    """Pick our drivers: psycopg 3 for the app, pysqlite for SQLite."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings money needs on each backend.

    SQLite gets foreign keys on, WAL, a busy timeout and ``BEGIN IMMEDIATE``
    so that the single-writer database serialises writers instead of failing
    them half-way through a transaction.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if kwargs.get("pool_pre_ping"):
        return create_engine(url, **kwargs)  # the caller asked for a ping on every checkout
    engine = create_engine(url, **kwargs)
    ping_when_idle(engine, PING_IF_IDLE_S)
    return engine


def ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection on checkout only if it sat idle ``idle_s`` or longer.

    A failed ping replaces that connection (``DisconnectionError``: the pool
    reconnects and retries the checkout), as ``pool_pre_ping`` would.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        if dbapi_conn is not None:
            record.info[_CHECKED_IN] = (id(dbapi_conn), time.monotonic())

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_CHECKED_IN)
        if last is None or last[0] != id(dbapi_conn):
            return  # a connection just made: nothing to ping yet
        if time.monotonic() - last[1] < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as err:
            raise exc.DisconnectionError(f"ping failed after {idle_s:g} s idle: {err}") from err


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
