"""Fixtures for the framework-free accounts tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.accounts.helpers import FAST_HASHER, migrated_pg_schema, pg_admin_url, sqlite_url
from wallet.accounts import passwords
from wallet.db.session import make_engine, make_session_factory


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "hasher", lambda: FAST_HASHER)
    monkeypatch.setattr(passwords, "_dummy_hash", lambda: FAST_HASHER.hash("nobody"))


@pytest.fixture(scope="session")
def accounts_pg_url(pg_schema_url: str) -> Iterator[str]:
    """Our own migrated schema (pg_schema_url only proves the server is up)."""
    with migrated_pg_schema(pg_admin_url()) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A session factory on SQLite (create_all) or PostgreSQL (migrated)."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = request.getfixturevalue("accounts_pg_url")
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()
