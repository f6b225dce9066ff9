"""Withdrawal worker: lease columns and a status index on ``withdrawals``.

Revision ID: 0015_withdrawal_claims
Revises: 0014_intake_indexes
Create Date: 2026-11-29

Custody's withdrawal worker (``wallet.custody.withdrawal_worker``) claims
``held`` and ``broadcast`` withdrawals with ``wallet.db.claims.claim_batch``
(``FOR UPDATE SKIP LOCKED`` plus a lease), so two workers never sign or
settle the same withdrawal at once and a dead worker's rows come back when
the lease runs out. The model side is the ``Claimable`` mixin on
``Withdrawal``. The ``(status, updated_at)`` index makes the worker's idle
tick one index probe however long the history grows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_withdrawal_claims"
down_revision: str | None = "0014_intake_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("withdrawals") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", TS, nullable=True))
    op.create_index(
        op.f("ix_withdrawals_status"), "withdrawals", ["status", "updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_withdrawals_status"), table_name="withdrawals")
    with op.batch_alter_table("withdrawals") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("claimed_by")
