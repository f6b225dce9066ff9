"""Indexes for the reads the risk engine makes on every payment.

Revision ID: 0014_intake_indexes
Revises: 0013_withdrawal_review
Create Date: 2026-11-28

The AML checks of :mod:`wallet.risk.aml` run inside each payment's
transaction: fan-in reads a payee's payments (``payee_vpa``, first and
recent ``created_at``) and deposit-then-spend joins the payer's addresses
to ``credits`` on ``(chain, address)``. Without these indexes both scan
their whole table, so every payment got slower as history grew.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_intake_indexes"
down_revision: str | None = "0013_withdrawal_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_payments_payee_vpa_created_at", "payments", ["payee_vpa", "created_at"])
    op.create_index("ix_credits_chain_address", "credits", ["chain", "address"])


def downgrade() -> None:
    op.drop_index("ix_credits_chain_address", table_name="credits")
    op.drop_index("ix_payments_payee_vpa_created_at", table_name="payments")
