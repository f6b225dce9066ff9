"""Column helpers shared by the models: ids, enums, JSON, money checks."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Enum, Integer
from sqlalchemy.dialects.postgresql import JSONB

# 64-bit ids on PostgreSQL; SQLite only auto-increments a plain INTEGER key.
IdType = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JsonType = JSON().with_variant(JSONB(), "postgresql")


def enum_type(cls: type[enum.Enum], name: str) -> Enum:
    """A VARCHAR + CHECK enum storing the lower-case values.

    Not a native PostgreSQL enum: adding a status later is then a plain
    CHECK change that works the same on SQLite.
    """
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def positive(column: str) -> CheckConstraint:
    """``column > 0`` for a MinorUnits column on both backends.

    The CAST makes SQLite compare numbers rather than the stored text.
    """
    return CheckConstraint(f"CAST({column} AS NUMERIC) > 0", name=f"{column}_positive")


def non_negative(column: str) -> CheckConstraint:
    return CheckConstraint(f"CAST({column} AS NUMERIC) >= 0", name=f"{column}_non_negative")


def json_default() -> dict[str, Any]:
    return {}
