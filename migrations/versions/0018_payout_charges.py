"""Payouts: the fees and tax RazorpayX charged for each.

Revision ID: 0018_payout_charges
Revises: 0017_worker_heartbeats
Create Date: 2026-11-29

RazorpayX takes each payout's fee and the GST on it from the float with the
payout (``amount + fees + tax``) and gives all three back on a reversal. The
ledger books them to ``expense:payout_fees:INR`` so the float account keeps
matching the real balance; the payout row keeps what was charged, so the
reversal gives back exactly that. Column types are frozen here (no imports
from ``wallet``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_payout_charges"
down_revision: str | None = "0017_worker_heartbeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MINOR = sa.Numeric(78, 0).with_variant(sa.String(80), "sqlite")  # integer minor units
COLUMNS = ("fees_paise", "tax_paise")


def upgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, MINOR, nullable=False, server_default="0"))
            batch.create_check_constraint(
                op.f(f"ck_payouts_{column}_non_negative"),
                sa.text(f"CAST({column} AS NUMERIC) >= 0"),
            )


def downgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        for column in COLUMNS:
            batch.drop_constraint(op.f(f"ck_payouts_{column}_non_negative"), type_="check")
            batch.drop_column(column)
