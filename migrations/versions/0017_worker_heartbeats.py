"""Warm worker: one heartbeat row per long-lived loop.

Revision ID: 0017_worker_heartbeats
Revises: 0016_sweep_status_index
Create Date: 2026-11-29

``taskforce settle-worker`` pays, sells and watches the chains; Dagster's
sensors only back it up, tens of seconds slower. The monitoring sensor
alerts when one of its loops has not beaten for a while
(``worker_silent:<loop>``), so a dead worker is noticed before vendors wait.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_worker_heartbeats"
down_revision: str | None = "0016_sweep_status_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("beat_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
