"""Indian financial years (April–March) and months, on the IST calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")


def financial_year(at: datetime) -> str:
    """``2025-26`` for any instant from 1 April 2025 to 31 March 2026, IST."""
    local = at.astimezone(IST)
    start = local.year if local.month >= 4 else local.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def financial_year_bounds(fy: str) -> tuple[datetime, datetime]:
    """[start, end) of a financial year as UTC instants."""
    start_year = int(fy[:4])
    start = datetime(start_year, 4, 1, tzinfo=IST)
    end = datetime(start_year + 1, 4, 1, tzinfo=IST)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month in IST, as UTC instants."""
    if not 1 <= month <= 12:
        raise ValueError("month must be 1..12")
    start = datetime(year, month, 1, tzinfo=IST)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=IST)
    return start.astimezone(UTC), end.astimezone(UTC)


def tds_due_date(year: int, month: int) -> date:
    """When TDS deducted in a month must reach the government (rule 30).

    The 7th of the next month, except that March's is due by 30 April.
    """
    if month == 3:
        return date(year, 4, 30)
    return date(year + month // 12, month % 12 + 1, 7)
