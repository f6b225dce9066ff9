"""Fixtures for the rates tests: a SQLite database with the rates tables, real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from wallet.db.base import Base
from wallet.db.session import make_engine, make_session_factory
from wallet.rates.models import AssetPause, RateCacheEntry, RateHistory

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def session_factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A file SQLite database holding only the rates tables."""
    engine = make_engine(f"sqlite:///{tmp_path / 'rates.db'}")
    tables = [RateHistory.__table__, RateCacheEntry.__table__, AssetPause.__table__]
    Base.metadata.create_all(engine, tables=tables)  # type: ignore[arg-type]
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    """The real Redis server; loud skip locally when it is down, failure under CI=true."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis unreachable at {redis_url}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip("LOUD NOTICE: " + message)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: Any) -> Iterator[str]:
    """A key namespace of this test's own, deleted afterwards."""
    prefix = f"test:rates:{uuid.uuid4().hex}"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}:*"))
    if keys:
        redis_client.delete(*keys)
