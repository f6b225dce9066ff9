"""IMPS fallback: merchants' bank accounts on file, and payouts that pay one.

Revision ID: 0011_external_imps
Revises: 0012_wiring
Create Date: 2026-11-28

When RazorpayX refuses a merchant's VPA, settlement retries the payout as
IMPS to the merchant's bank account (``wallet.settlement.imps``). The
account number is stored sealed (AES-GCM envelope) with its last four
digits for display; the RazorpayX fund account id is kept so payouts never
need the number. Column types are frozen here (no imports from ``wallet``).
The lead re-chains ``down_revision`` after the other revisions of this
round.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_external_imps"
down_revision: str | None = "0012_wiring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "merchant_bank_accounts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("holder_name", sa.String(length=120), nullable=False),
        sa.Column("ifsc", sa.String(length=11), nullable=False),
        sa.Column("account_number_sealed", sa.Text(), nullable=False),
        sa.Column("account_last4", sa.String(length=4), nullable=False),
        sa.Column("fund_account_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_bank_accounts_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_bank_accounts")),
        sa.UniqueConstraint("merchant_id", name=op.f("uq_merchant_bank_accounts_merchant_id")),
    )
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("bank_account_id", ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_payouts_bank_account_id_merchant_bank_accounts"),
            "merchant_bank_accounts",
            ["bank_account_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.drop_constraint(
            op.f("fk_payouts_bank_account_id_merchant_bank_accounts"), type_="foreignkey"
        )
        batch.drop_column("bank_account_id")
    op.drop_table("merchant_bank_accounts")
