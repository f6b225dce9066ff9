"""Sweep worker: a status index on ``custody_sweeps``.

Revision ID: 0016_sweep_status_index
Revises: 0015_withdrawal_claims
Create Date: 2026-11-30

Sweeps now run in the housekeeping sensor (``sensors.sweeps``). Its idle
tick asks one question: is any sweep open (``planned``, ``topup``,
``sent``), or has a credit arrived since the last pass? The status index
keeps the first half an index probe however many sweeps are done.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_sweep_status_index"
down_revision: str | None = "0015_withdrawal_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_custody_sweeps_status"), "custody_sweeps", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_custody_sweeps_status"), table_name="custody_sweeps")
