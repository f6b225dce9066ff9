"""Migration 0005 creates exactly the tables the settlement and alert models declare."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.pool import NullPool

from wallet.alerts.models import AlertIncident
from wallet.db.base import Base
from wallet.db.migrate import upgrade
from wallet.db.session import make_engine
from wallet.settlement.models import PayoutWebhookEvent, SellBatch, SellBatchItem

OURS = {m.__tablename__ for m in (AlertIncident, PayoutWebhookEvent, SellBatch, SellBatchItem)}


def _ours(obj: object, name: str | None, type_: str, _reflected: bool, _other: object) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in OURS


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": _ours}
        diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    engine.dispose()
    assert diffs == []
    assert set(Base.metadata.tables) >= OURS
