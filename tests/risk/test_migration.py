"""Migration 0006_risk creates exactly what the risk and compliance models declare."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.pool import NullPool

from tests.risk.fixtures import REVISION
from wallet.compliance import models as compliance_models
from wallet.db.base import Base
from wallet.db.migrate import downgrade, upgrade
from wallet.db.session import make_engine
from wallet.risk import models as risk_models

OURS = {
    m.__tablename__
    for mod in (risk_models, compliance_models)
    for m in vars(mod).values()
    if isinstance(m, type) and issubclass(m, Base) and m is not Base
}


def _ours(obj: object, name: str | None, type_: str, _reflected: bool, _other: object) -> bool:
    # Other migrations and models add tables of their own: compare only ours.
    return type_ != "table" or name in OURS


def _diffs(url: str) -> list[object]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"include_object": _ours})
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_upgrade_matches_models_and_downgrades(tmp_path: Path) -> None:
    assert len(OURS) == 9
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, REVISION)
    assert _tables(url) >= OURS
    assert _diffs(url) == []
    downgrade(url, "0002_rates")
    assert not (_tables(url) & OURS)


@pytest.mark.postgres
def test_postgres_schema_matches_models(risk_pg_url: str) -> None:
    assert _diffs(risk_pg_url) == []
