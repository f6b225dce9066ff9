"""Merchant dashboard and admin panel: payout VPAs, payment links, webhooks,
merchant API keys, two-admin approvals, exchange accounts.

Revision ID: 0008_merchant_admin
Revises: 0003_accounts
Create Date: 2026-11-28

Written from ``wallet.merchants.models`` and ``wallet.admin.models`` and
reviewed by hand; column types are frozen here (no imports from
``wallet``). Webhook secrets and exchange keys are stored sealed
(AES-GCM envelope), API keys as SHA-256 hex digests.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_merchant_admin"
down_revision: str | None = "0007_payer_app"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MINOR = sa.Numeric(78, 0).with_variant(sa.String(80), "sqlite")


def _one_of(table: str, name: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{name}"))


def _fk(table: str, column: str, target: str, target_column: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.{target_column}"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    t = "merchant_payout_accounts"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("vpa", sa.String(255), nullable=False),
        sa.Column("registered_name", sa.String(200), nullable=True),
        sa.Column("fund_account_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("effective_at", TS, nullable=False),
        sa.Column("activated_at", TS, nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        _fk(t, "merchant_id", "merchants"),
        _one_of(
            t, "payout_account_status", "status", ("pending", "active", "superseded", "cancelled")
        ),
    )
    op.create_index(op.f(f"ix_{t}_merchant_id"), t, ["merchant_id", "status"], unique=False)

    t = "payment_links"
    op.create_table(
        t,
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("amount_paise", MINOR, nullable=False),
        sa.Column("note", sa.String(100), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("payment_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.CheckConstraint(
            "CAST(amount_paise AS NUMERIC) > 0", name=op.f(f"ck_{t}_amount_paise_positive")
        ),
        _fk(t, "merchant_id", "merchants"),
        _fk(t, "payment_id", "payments"),
        _one_of(t, "payment_link_status", "status", ("active", "used", "cancelled")),
        sa.UniqueConstraint("payment_id", name=op.f(f"uq_{t}_payment_id")),
    )
    op.create_index(op.f(f"ix_{t}_merchant_id"), t, ["merchant_id"], unique=False)

    t = "webhook_endpoints"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("secret_prefix", sa.String(16), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("secret_rotated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("public_id", name=op.f(f"uq_{t}_public_id")),
        _fk(t, "merchant_id", "merchants"),
    )
    op.create_index(op.f(f"ix_{t}_merchant_id"), t, ["merchant_id"], unique=False)

    t = "webhook_deliveries"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("replay_of", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("dedupe_key", name=op.f(f"uq_{t}_dedupe_key")),
        _fk(t, "endpoint_id", "webhook_endpoints"),
        _fk(t, "replay_of", "webhook_deliveries"),
        _one_of(t, "webhook_delivery_status", "status", ("pending", "delivered", "failed")),
    )
    op.create_index(op.f(f"ix_{t}_endpoint_id"), t, ["endpoint_id"], unique=False)

    t = "webhook_attempts"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        sa.Column("delivery_id", ID, nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint(
            "delivery_id", "attempt_no", name=op.f(f"uq_{t}_delivery_id_attempt_no")
        ),
        _fk(t, "delivery_id", "webhook_deliveries"),
    )

    t = "merchant_api_keys"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("key_hash", name=op.f(f"uq_{t}_key_hash")),
        _fk(t, "merchant_id", "merchants"),
    )
    op.create_index(op.f(f"ix_{t}_merchant_id"), t, ["merchant_id"], unique=False)

    t = "merchant_event_cursors"
    op.create_table(
        t,
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f(f"pk_{t}")),
    )

    t = "pending_approvals"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("amount_paise", MINOR, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("requested_by", ID, nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> requested_by", name=op.f(f"ck_{t}_second_admin")
        ),
        _one_of(t, "approval_status", "status", ("pending", "executed", "rejected", "failed")),
        _fk(t, "requested_by", "users"),
        _fk(t, "decided_by", "users"),
    )
    op.create_index(
        "uq_pending_approvals_open",
        t,
        ["action", "subject_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )

    t = "exchange_accounts"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("api_key_sealed", sa.Text(), nullable=True),
        sa.Column("api_secret_sealed", sa.Text(), nullable=True),
        sa.Column("key_hint", sa.String(16), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("rotated_at", TS, nullable=True),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("venue", name=op.f(f"uq_{t}_venue")),
    )


def downgrade() -> None:
    op.drop_table("exchange_accounts")
    op.drop_index("uq_pending_approvals_open", table_name="pending_approvals")
    op.drop_table("pending_approvals")
    op.drop_table("merchant_event_cursors")
    op.drop_index(op.f("ix_merchant_api_keys_merchant_id"), table_name="merchant_api_keys")
    op.drop_table("merchant_api_keys")
    op.drop_table("webhook_attempts")
    op.drop_index(op.f("ix_webhook_deliveries_endpoint_id"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_webhook_endpoints_merchant_id"), table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_index(op.f("ix_payment_links_merchant_id"), table_name="payment_links")
    op.drop_table("payment_links")
    op.drop_index(
        op.f("ix_merchant_payout_accounts_merchant_id"), table_name="merchant_payout_accounts"
    )
    op.drop_table("merchant_payout_accounts")
