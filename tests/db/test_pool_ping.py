"""Pooled PostgreSQL connections are pinged only after sitting idle (wallet.db.session).

A connection handed back moments ago is used without a ping; one idle past
the window is pinged, and one whose server backend died meanwhile is
replaced on checkout instead of failing the request that drew it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import QueuePool

from tests.pg import require_postgres
from wallet.db import session as db_session

pytestmark = pytest.mark.postgres
IDLE_S = 0.2


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(db_session, "PING_IF_IDLE_S", IDLE_S)
    engine = db_session.make_engine(require_postgres(), poolclass=QueuePool, pool_size=1)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    real = engine.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        seen.append(dbapi_conn)
        return bool(real(dbapi_conn))

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return seen


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_used_moments_ago_is_not_pinged(engine: Engine, pings: list[Any]) -> None:
    first = _backend_pid(engine)  # a new connection: nothing to ping
    for _ in range(5):
        assert _backend_pid(engine) == first  # the same pooled connection, back at once
    assert pings == []


def test_a_connection_idle_past_the_window_is_pinged_first(
    engine: Engine, pings: list[Any]
) -> None:
    first = _backend_pid(engine)
    time.sleep(IDLE_S * 2)
    assert _backend_pid(engine) == first
    assert len(pings) == 1


def test_a_dead_idle_connection_is_replaced_not_handed_out(
    engine: Engine, pings: list[Any]
) -> None:
    victim = _backend_pid(engine)
    admin = db_session.make_engine(require_postgres())
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": victim}).scalar()
            conn.commit()
    finally:
        admin.dispose()
    time.sleep(IDLE_S * 2)
    replacement = _backend_pid(engine)  # no error: the ping failed and the pool reconnected
    assert replacement != victim
    assert len(pings) == 1


def test_asking_for_pre_ping_keeps_sqlalchemys_ping_on_every_checkout() -> None:
    engine = db_session.make_engine(require_postgres(), pool_pre_ping=True)
    default = db_session.make_engine(require_postgres())
    try:
        assert engine.pool._pre_ping is True
        assert len(engine.pool.dispatch.checkout) == 0  # no idle-window ping on top
        assert default.pool._pre_ping is False and len(default.pool.dispatch.checkout) == 1
    finally:
        engine.dispose()
        default.dispose()
