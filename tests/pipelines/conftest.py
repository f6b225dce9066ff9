"""Reuse the settlement suite's stand-ins; a SQLite app database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

import wallet.db.all_models  # noqa: F401 - every table, the chain sensor's too
from tests.settlement.conftest import rzp, venues
from tests.settlement.helpers import sqlite_factory

__all__ = ["rzp", "venues"]


@pytest.fixture
def app_db(tmp_path: Path) -> Iterator[tuple[str, sessionmaker[Session]]]:
    path = tmp_path / "app.db"
    engine, factory = sqlite_factory(path)
    yield f"sqlite:///{path}", factory
    engine.dispose()
