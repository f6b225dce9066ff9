"""Withdrawals the risk engine sends to review are parked, not refused.

Revision ID: 0013_withdrawal_review
Revises: 0011_external_imps
Create Date: 2026-11-29

Two more values of ``withdrawals.status``: ``held_for_review`` (the coins
are held on the payer's balance until an admin decides) and ``rejected``
(an admin refused it; the hold was voided). The status is a VARCHAR with a
named CHECK (``wallet.db.models._types.enum_type``), so this only swaps
the CHECK; batch mode rebuilds the table on SQLite. Values are frozen
here (no imports from ``wallet``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_withdrawal_review"
down_revision: str | None = "0011_external_imps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "ck_withdrawals_withdrawal_status"
BEFORE = ("held", "broadcast", "posted", "failed")
AFTER = ("held", "held_for_review", "broadcast", "posted", "failed", "rejected")


def _swap(values: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{v}'" for v in values)
    with op.batch_alter_table("withdrawals") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint(op.f(CHECK), sa.text(f"status IN ({allowed})"))


def upgrade() -> None:
    _swap(AFTER)


def downgrade() -> None:
    # Parked or rejected rows have no older equivalent: refuse rather than rewrite history.
    parked = op.get_bind().execute(
        sa.text("SELECT count(*) FROM withdrawals WHERE status IN ('held_for_review', 'rejected')")
    )
    if parked.scalar():
        raise RuntimeError("withdrawals held for review or rejected exist; resolve them first")
    _swap(BEFORE)
