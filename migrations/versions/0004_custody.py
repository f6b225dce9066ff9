"""Custody and chains: encrypted seeds, signer usage, withdrawals, scanning, broadcasts.

Revision ID: 0004_custody
Revises: 0001_foundation
Create Date: 2026-11-28

Written from ``wallet.custody.models`` and ``wallet.chains.models`` and
reviewed by hand; column types are frozen here (no imports from
``wallet``). ``custody_keys`` holds only ciphertexts, nonces, the master
key's public id and xpubs; no plaintext key material is ever stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_custody"
down_revision: str | None = "0003_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MINOR = sa.Numeric(78, 0).with_variant(sa.String(80), "sqlite")
TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _one_of(table: str, column: str, name: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "custody_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.Column("seed_nonce", sa.LargeBinary(length=16), nullable=False),
        sa.Column("seed_ciphertext", sa.LargeBinary(length=256), nullable=False),
        sa.Column("master_key_id", sa.String(length=64), nullable=False),
        sa.Column("data_key_nonce", sa.LargeBinary(length=16), nullable=False),
        sa.Column("data_key_ciphertext", sa.LargeBinary(length=64), nullable=False),
        sa.Column("xpubs", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("rotated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_keys")),
        sa.UniqueConstraint("family", name=op.f("uq_custody_keys_family")),
    )
    op.create_table(
        "signer_daily_usage",
        sa.Column("id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("used_minor", MINOR, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signer_daily_usage")),
        sa.UniqueConstraint(
            "day", "chain", "asset", name=op.f("uq_signer_daily_usage_day_chain_asset")
        ),
    )
    op.create_table(
        "credit_reversals",
        sa.Column("id", ID, nullable=False),
        sa.Column("credit_id", ID, nullable=False),
        sa.Column("journal_entry_id", ID, nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_id"], ["credits.id"], name=op.f("fk_credit_reversals_credit_id_credits")
        ),
        sa.ForeignKeyConstraint(
            ["journal_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_credit_reversals_journal_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_reversals")),
        sa.UniqueConstraint("credit_id", name=op.f("uq_credit_reversals_credit_id")),
    )
    op.create_table(
        "withdrawals",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("to_address", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("txid", sa.String(length=128), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "CAST(amount_minor AS NUMERIC) > 0", name=op.f("ck_withdrawals_amount_minor_positive")
        ),
        _one_of(
            "withdrawals", "status", "withdrawal_status", ("held", "broadcast", "posted", "failed")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_withdrawals_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
        sa.UniqueConstraint("key", name=op.f("uq_withdrawals_key")),
    )
    op.create_index(op.f("ix_withdrawals_user_id"), "withdrawals", ["user_id"], unique=False)
    op.create_table(
        "scan_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=128), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scan_cursors")),
    )
    op.create_table(
        "scanned_blocks",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scanned_blocks")),
        sa.UniqueConstraint("name", "height", name=op.f("uq_scanned_blocks_name_height")),
    )
    op.create_table(
        "chain_broadcasts",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("from_address", sa.String(length=128), nullable=False),
        sa.Column("to_address", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("txid", sa.String(length=128), nullable=False),
        sa.Column("raw_tx", sa.Text(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("last_valid_height", sa.BigInteger(), nullable=True),
        sa.Column("fee_minor", MINOR, nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _one_of(
            "chain_broadcasts",
            "status",
            "broadcast_status",
            ("signed", "sent", "confirmed", "failed", "dropped"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_broadcasts")),
        sa.UniqueConstraint("key", name=op.f("uq_chain_broadcasts_key")),
    )
    op.create_index(op.f("ix_chain_broadcasts_txid"), "chain_broadcasts", ["txid"], unique=False)
    op.create_table(
        "evm_nonces",
        sa.Column("id", ID, nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evm_nonces")),
        sa.UniqueConstraint("chain", "address", name=op.f("uq_evm_nonces_chain_address")),
    )


def downgrade() -> None:
    op.drop_table("evm_nonces")
    op.drop_index(op.f("ix_chain_broadcasts_txid"), table_name="chain_broadcasts")
    op.drop_table("chain_broadcasts")
    op.drop_table("scanned_blocks")
    op.drop_table("scan_cursors")
    op.drop_index(op.f("ix_withdrawals_user_id"), table_name="withdrawals")
    op.drop_table("withdrawals")
    op.drop_table("credit_reversals")
    op.drop_table("signer_daily_usage")
    op.drop_table("custody_keys")
