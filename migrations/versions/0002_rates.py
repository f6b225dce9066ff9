"""Rates: rate history, the database rate cache, circuit-breaker pauses.

Revision ID: 0002_rates
Revises: 0001_foundation
Create Date: 2026-11-28

Written by hand from ``wallet.rates.models``; column types are frozen here
(plain SQLAlchemy types, no imports from ``wallet``) so later model changes
cannot rewrite history.

- ``rate_history`` is append-only: exact rate as numerator/denominator of
  paise per minor unit, plus a rounded ``inr_per_unit`` for SQL users.
- ``rate_cache`` is the key/value fallback of the rate cache (no Redis).
- ``asset_pauses`` allows one open pause per asset: a partial unique index
  on ``resumed_at IS NULL`` (both PostgreSQL and SQLite support it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_rates"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MINOR = sa.Numeric(78, 0).with_variant(sa.String(80), "sqlite")
DISPLAY = sa.Numeric(38, 12).with_variant(sa.String(48), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rate_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("rate_num", MINOR, nullable=False),
        sa.Column("rate_den", MINOR, nullable=False),
        sa.Column("inr_per_unit", DISPLAY, nullable=False),
        sa.Column("observed_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_history")),
    )
    op.create_index(
        "ix_rate_history_asset_source_observed",
        "rate_history",
        ["asset", "source", "observed_at"],
    )
    op.create_table(
        "rate_cache",
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_cache")),
    )
    op.create_table(
        "asset_pauses",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paused_at", TS, nullable=False),
        sa.Column("last_tripped_at", TS, nullable=False),
        sa.Column("resumed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_pauses")),
    )
    op.create_index(
        "uq_asset_pauses_open",
        "asset_pauses",
        ["asset"],
        unique=True,
        sqlite_where=sa.text("resumed_at IS NULL"),
        postgresql_where=sa.text("resumed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_asset_pauses_open", table_name="asset_pauses")
    op.drop_table("asset_pauses")
    op.drop_table("rate_cache")
    op.drop_index("ix_rate_history_asset_source_observed", table_name="rate_history")
    op.drop_table("rate_history")
