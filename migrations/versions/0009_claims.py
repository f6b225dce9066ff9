"""Work claiming: lease columns on the outbox.

Revision ID: 0009_claims
Revises: 0003_accounts
Create Date: 2026-11-28

Webhook delivery workers claim outbox rows with
``wallet.db.claims.claim_batch`` (``FOR UPDATE SKIP LOCKED`` plus a
lease), so several delivery processes never send the same message at
once and a dead one's rows come back when the lease runs out. The model
side is the ``wallet.db.claims.Claimable`` mixin on ``OutboxMessage``.
The lead re-chains ``down_revision`` after the other revisions of this
round.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_claims"
down_revision: str | None = "0008_merchant_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("claimed_by")
