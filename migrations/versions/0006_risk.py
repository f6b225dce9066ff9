"""Risk and compliance: limit counters, assessments, review cases, KYC,
sanctions list, TDS records, GST invoices.

Revision ID: 0006_risk
Revises: 0002_rates
Create Date: 2026-11-28

Written from ``wallet.risk.models`` and ``wallet.compliance.models`` and
reviewed by hand; column types are frozen here (no imports from
``wallet``). INR amounts are BIGINT paise so that limit counters can be
updated with ``used_paise + :amount <= :limit`` in SQL on both backends.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_risk"
down_revision: str | None = "0004_custody"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _one_of(table: str, column: str, name: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    """The CHECK behind a non-native enum, named as the models name it."""
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "risk_counters",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("used_count", sa.Integer(), nullable=False),
        sa.Column("used_paise", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "used_count >= 0", name=op.f("ck_risk_counters_used_count_non_negative")
        ),
        sa.CheckConstraint(
            "used_paise >= 0", name=op.f("ck_risk_counters_used_paise_non_negative")
        ),
        sa.PrimaryKeyConstraint(
            "scope", "key", "period", "window_start", name=op.f("pk_risk_counters")
        ),
    )
    op.create_table(
        "risk_reservations",
        sa.Column("id", ID, nullable=False),
        sa.Column("ref", sa.String(120), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("counters", JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("released_at", TS, nullable=True),
        _one_of("risk_reservations", "status", "reservation_status", ("reserved", "released")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_risk_reservations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_reservations")),
        sa.UniqueConstraint("ref", name=op.f("uq_risk_reservations_ref")),
    )
    op.create_index(
        op.f("ix_risk_reservations_user_id"), "risk_reservations", ["user_id"], unique=False
    )
    op.create_table(
        "payment_risk",
        sa.Column("id", ID, nullable=False),
        sa.Column("payment_id", sa.String(36), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("assessed_at", TS, nullable=False),
        _one_of(
            "payment_risk", "decision", "risk_decision", ("approve", "hold_for_review", "decline")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_risk_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_risk")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_payment_risk_payment_id")),
    )
    op.create_table(
        "review_cases",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("payment_ids", JSON, nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        _one_of("review_cases", "status", "case_status", ("open", "resolved")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_cases")),
    )
    op.create_index(op.f("ix_review_cases_status"), "review_cases", ["status"], unique=False)
    # At most one open case per (kind, subject): later flags join it.
    op.create_index(
        "uq_review_cases_open",
        "review_cases",
        ["kind", "subject"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "kyc_profiles",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("pan", sa.String(10), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("submitted_at", TS, nullable=False),
        sa.Column("reviewed_at", TS, nullable=True),
        sa.Column("reviewed_by", ID, nullable=True),
        _one_of("kyc_profiles", "status", "kyc_status", ("submitted", "approved", "rejected")),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_kyc_profiles_reviewed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_kyc_profiles_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_kyc_profiles")),
        sa.UniqueConstraint("pan", name=op.f("uq_kyc_profiles_pan")),
    )
    op.create_table(
        "sanctions_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("listed_at", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_at", TS, nullable=False),
        sa.Column("removed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions_entries")),
        sa.UniqueConstraint(
            "kind", "chain", "value", name=op.f("uq_sanctions_entries_kind_chain_value")
        ),
    )
    op.create_index(
        op.f("ix_sanctions_entries_value"), "sanctions_entries", ["value"], unique=False
    )
    op.create_table(
        "tds_records",
        sa.Column("id", ID, nullable=False),
        sa.Column("payment_id", sa.String(36), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("pan", sa.String(10), nullable=True),
        sa.Column("financial_year", sa.String(7), nullable=False),
        sa.Column("consideration_paise", sa.BigInteger(), nullable=False),
        sa.Column("aggregate_before_paise", sa.BigInteger(), nullable=False),
        sa.Column("threshold_paise", sa.BigInteger(), nullable=False),
        sa.Column("rate_bps", sa.Integer(), nullable=False),
        sa.Column("tds_paise", sa.BigInteger(), nullable=False),
        sa.Column("basis", sa.String(32), nullable=False),
        sa.Column("deducted_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_tds_records_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tds_records_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tds_records")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_tds_records_payment_id")),
    )
    op.create_index(
        op.f("ix_tds_records_user_id"), "tds_records", ["user_id", "financial_year"], unique=False
    )
    op.create_index(
        op.f("ix_tds_records_deducted_at"), "tds_records", ["deducted_at"], unique=False
    )
    op.create_table(
        "invoice_counters",
        sa.Column("series", sa.String(8), nullable=False),
        sa.Column("financial_year", sa.String(7), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series", "financial_year", name=op.f("pk_invoice_counters")),
    )
    op.create_table(
        "gst_invoices",
        sa.Column("id", ID, nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("series", sa.String(8), nullable=False),
        sa.Column("financial_year", sa.String(7), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.String(36), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("supplier_name", sa.String(200), nullable=False),
        sa.Column("supplier_gstin", sa.String(15), nullable=False),
        sa.Column("supplier_address", sa.Text(), nullable=False),
        sa.Column("supplier_state_code", sa.String(2), nullable=False),
        sa.Column("recipient_name", sa.String(200), nullable=False),
        sa.Column("recipient_email", sa.String(320), nullable=False),
        sa.Column("place_of_supply", sa.String(2), nullable=False),
        sa.Column("sac_code", sa.String(8), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("fee_paise", sa.BigInteger(), nullable=False),
        sa.Column("taxable_paise", sa.BigInteger(), nullable=False),
        sa.Column("gst_rate_bps", sa.Integer(), nullable=False),
        sa.Column("cgst_paise", sa.BigInteger(), nullable=False),
        sa.Column("sgst_paise", sa.BigInteger(), nullable=False),
        sa.Column("igst_paise", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_gst_invoices_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_gst_invoices_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gst_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_gst_invoices_number")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_gst_invoices_payment_id")),
        sa.UniqueConstraint(
            "series",
            "financial_year",
            "seq",
            name=op.f("uq_gst_invoices_series_financial_year_seq"),
        ),
    )
    op.create_index(op.f("ix_gst_invoices_user_id"), "gst_invoices", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("gst_invoices")
    op.drop_table("invoice_counters")
    op.drop_table("tds_records")
    op.drop_table("sanctions_entries")
    op.drop_table("kyc_profiles")
    op.drop_index("uq_review_cases_open", table_name="review_cases")
    op.drop_table("review_cases")
    op.drop_table("payment_risk")
    op.drop_table("risk_reservations")
    op.drop_table("risk_counters")
