"""The append-only rate history, and the recent window the breakers read.

Each sync appends one row per source value and one per aggregated median
(``source = "median"``). Analysts query ``rate_history`` directly; the
circuit breaker reads the medians of the last few minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from wallet.money import Rounding, divide
from wallet.rates.models import MEDIAN_SOURCE, RateHistory
from wallet.rates.types import AssetRate, RateObservation, inr_per_unit

Window = list[tuple[datetime, Fraction]]


class RateHistoryWriter(Protocol):
    def append(self, rows: Sequence[RateObservation]) -> None: ...


class RateWindow(Protocol):
    def window(self, asset: str, since: datetime) -> Window: ...


def median_rows(rates: Iterable[AssetRate]) -> list[RateObservation]:
    """History rows for aggregated rates (``source = "median"``)."""
    return [RateObservation(MEDIAN_SOURCE, r.asset, r.rate, r.computed_at) for r in rates]


def _display(asset: str, rate: Fraction) -> Decimal:
    scaled = inr_per_unit(asset, rate) * 10**12
    return Decimal(divide(scaled.numerator, scaled.denominator, Rounding.HALF_EVEN)).scaleb(-12)


class SqlRateHistory:
    """``rate_history`` in the app database."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    def append(self, rows: Sequence[RateObservation]) -> None:
        with self._factory() as session, session.begin():
            session.add_all(
                RateHistory(
                    asset=row.asset,
                    source=row.source,
                    rate_num=row.rate.numerator,
                    rate_den=row.rate.denominator,
                    inr_per_unit=_display(row.asset, row.rate),
                    observed_at=row.observed_at,
                )
                for row in rows
            )

    def window(self, asset: str, since: datetime) -> Window:
        with self._factory() as session:
            rows = session.execute(
                select(RateHistory.observed_at, RateHistory.rate_num, RateHistory.rate_den)
                .where(
                    RateHistory.asset == asset,
                    RateHistory.source == MEDIAN_SOURCE,
                    RateHistory.observed_at >= since,
                )
                .order_by(RateHistory.observed_at)
            ).all()
        return [(at, Fraction(num, den)) for at, num, den in rows]


class MemoryRateHistory:
    """History kept in a list (tests and one-process use)."""

    def __init__(self) -> None:
        self.rows: list[RateObservation] = []

    def append(self, rows: Sequence[RateObservation]) -> None:
        self.rows.extend(rows)

    def window(self, asset: str, since: datetime) -> Window:
        return sorted(
            (r.observed_at, r.rate)
            for r in self.rows
            if r.asset == asset and r.source == MEDIAN_SOURCE and r.observed_at >= since
        )
