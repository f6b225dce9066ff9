"""Custody sweeps and credit reinstatements.

Revision ID: 0010_custody_sweeps
Revises: 0006_risk
Create Date: 2026-12-05

Written from ``wallet.custody.models`` (``CustodySweep``,
``CreditReinstatement``) and reviewed by hand; column types are frozen
here (no imports from ``wallet``). The lead re-chains ``down_revision``
after the other revisions of this round.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_custody_sweeps"
down_revision: str | None = "0006_risk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MINOR = sa.Numeric(78, 0).with_variant(sa.String(80), "sqlite")
TS = sa.DateTime(timezone=True)


def _one_of(table: str, column: str, name: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "credit_reinstatements",
        sa.Column("id", ID, nullable=False),
        sa.Column("credit_id", ID, nullable=False),
        sa.Column("block_hash", sa.String(length=128), nullable=False),
        sa.Column("journal_entry_id", ID, nullable=False),
        sa.Column("reversal_entry_id", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_credit_reinstatements_credit_id_credits")
        ),
        sa.ForeignKeyConstraint(
            ["journal_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_credit_reinstatements_journal_entry_id_journal_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["reversal_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_credit_reinstatements_reversal_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_reinstatements")),
        sa.UniqueConstraint(
            "credit_id", "block_hash", name=op.f("uq_credit_reinstatements_credit_id_block_hash")
        ),
    )
    op.create_index(
        op.f("ix_credit_reinstatements_credit_id"),
        "credit_reinstatements",
        ["credit_id"],
        unique=False,
    )
    op.create_table(
        "custody_sweeps",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("from_address", sa.String(length=128), nullable=False),
        sa.Column("to_address", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=True),
        sa.Column("topup_minor", MINOR, nullable=True),
        sa.Column("fee_minor", MINOR, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _one_of("custody_sweeps", "kind", "sweep_kind", ("sweep", "cold")),
        _one_of(
            "custody_sweeps",
            "status",
            "sweep_status",
            ("planned", "topup", "sent", "confirmed", "failed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_sweeps")),
        sa.UniqueConstraint("key", name=op.f("uq_custody_sweeps_key")),
    )
    op.create_index(
        "ix_custody_sweeps_pair", "custody_sweeps", ["chain", "asset", "from_address"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_custody_sweeps_pair", table_name="custody_sweeps")
    op.drop_table("custody_sweeps")
    op.drop_index(op.f("ix_credit_reinstatements_credit_id"), table_name="credit_reinstatements")
    op.drop_table("credit_reinstatements")
