"""Wiring: quotes remember the single-use merchant link they pay.

Revision ID: 0012_wiring
Revises: 0009_claims
Create Date: 2026-11-28

A dynamic-QR link (``payment_links``) is consumed in the same transaction
that opens the payment, so the quote carries the link id from the scan to
the payment. Nullable: quotes from UPI codes have no link.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_wiring"
down_revision: str | None = "0009_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("quotes") as batch:
        batch.add_column(sa.Column("merchant_link_id", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quotes") as batch:
        batch.drop_column("merchant_link_id")
