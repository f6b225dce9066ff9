"""Tables of the rates layer (migration ``0002_rates``).

- ``rate_history``: append-only; one row per source value and one per
  aggregated median (``source = "median"``) each sync, for analysts and the
  5-minute circuit breaker window. The rate is exact: numerator and
  denominator of paise per minor unit; ``inr_per_unit`` is a rounded copy
  in rupees per whole coin for humans and SQL.
- ``rate_cache``: the database fallback of the rate cache (one row per key,
  overwritten), used when no Redis is configured so the web app and the
  Dagster code location share rates across processes.
- ``asset_pauses``: circuit-breaker pauses; at most one open pause per asset
  (partial unique index on ``resumed_at IS NULL``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, Numeric, String, Text, TypeDecorator, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from wallet.db.base import Base, MinorUnits, UTCDateTime, utcnow

MEDIAN_SOURCE = "median"


class DisplayDecimal(TypeDecorator[Decimal]):
    """A rounded decimal for humans: NUMERIC(38,12) on PostgreSQL, text on SQLite."""

    impl = Numeric(38, 12)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(48))
        return dialect.type_descriptor(Numeric(38, 12, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class RateHistory(Base):
    __tablename__ = "rate_history"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    asset: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    rate_num: Mapped[int] = mapped_column(MinorUnits)  # paise per minor unit, numerator
    rate_den: Mapped[int] = mapped_column(MinorUnits)  # ... and denominator (> 0)
    inr_per_unit: Mapped[Decimal] = mapped_column(DisplayDecimal)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_rate_history_asset_source_observed", "asset", "source", "observed_at"),
    )


class RateCacheEntry(Base):
    __tablename__ = "rate_cache"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # the same JSON document Redis holds
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssetPause(Base):
    __tablename__ = "asset_pauses"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    asset: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_tripped_at: Mapped[datetime] = mapped_column(UTCDateTime)  # cooldown runs from here
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index(
            "uq_asset_pauses_open",
            "asset",
            unique=True,
            sqlite_where=text("resumed_at IS NULL"),
            postgresql_where=text("resumed_at IS NULL"),
        ),
    )
