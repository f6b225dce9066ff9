"""Settlement: webhook event dedupe, sell batches, alert incidents.

Revision ID: 0005_settlement
Revises: 0002_rates
Create Date: 2026-11-28

Written by hand from ``wallet.settlement.models`` and
``wallet.alerts.models``; column types are frozen here (no imports from
``wallet``). The lead re-chains ``down_revision`` after the other
revisions of this round.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_settlement"
down_revision: str | None = "0010_custody_sweeps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MINOR = sa.Numeric(78, 0).with_variant(sa.String(80), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def _positive(table: str, column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"CAST({column} AS NUMERIC) > 0", name=op.f(f"ck_{table}_{column}_positive")
    )


def upgrade() -> None:
    op.create_table(
        "payout_webhook_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("provider_payout_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_webhook_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_payout_webhook_events_event_id")),
    )
    op.create_index(
        op.f("ix_payout_webhook_events_provider_payout_id"),
        "payout_webhook_events",
        ["provider_payout_id"],
    )
    op.create_table(
        "sell_batches",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("window_key", sa.String(64), nullable=False),
        sa.Column("route", JSON, nullable=False),
        sa.Column("qty_minor", MINOR, nullable=False),
        sa.Column("target_paise", MINOR, nullable=False),
        sa.Column("proceeds_paise", MINOR, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'selling', 'booked')",
            name=op.f("ck_sell_batches_sell_batch_status"),
        ),
        _positive("sell_batches", "qty_minor"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sell_batches")),
        sa.UniqueConstraint("asset", "window_key", name=op.f("uq_sell_batches_asset_window_key")),
    )
    op.create_table(
        "sell_batch_items",
        sa.Column("id", ID, nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("payment_id", sa.String(36), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("target_paise", MINOR, nullable=False),
        _positive("sell_batch_items", "amount_minor"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["sell_batches.id"],
            name=op.f("fk_sell_batch_items_batch_id_sell_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_sell_batch_items_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sell_batch_items")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_sell_batch_items_payment_id")),
    )
    op.create_index(op.f("ix_sell_batch_items_batch_id"), "sell_batch_items", ["batch_id"])
    op.create_table(
        "alert_incidents",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("last_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'resolved')", name=op.f("ck_alert_incidents_incident_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_incidents")),
        sa.UniqueConstraint("key", name=op.f("uq_alert_incidents_key")),
    )
    op.create_index(op.f("ix_alert_incidents_kind"), "alert_incidents", ["kind"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_incidents_kind"), table_name="alert_incidents")
    op.drop_table("alert_incidents")
    op.drop_index(op.f("ix_sell_batch_items_batch_id"), table_name="sell_batch_items")
    op.drop_table("sell_batch_items")
    op.drop_table("sell_batches")
    op.drop_index(
        op.f("ix_payout_webhook_events_provider_payout_id"), table_name="payout_webhook_events"
    )
    op.drop_table("payout_webhook_events")
