"""What a vendor reads at a glance: today's and this month's takings, daily volume.

Days and months are Indian calendar days (IST). A payment counts once its
crypto has arrived (confirmed or later on the way to the vendor); amounts
are the rupees the vendor receives, in paise. Sums are done in Python over
the day's rows: ``amount_inr_paise`` is text on SQLite, and a vendor's
month is small. (The Dagster merchant-analytics asset is the place for
heavy aggregation.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.db.models.payments import Payment
from wallet.merchants.queries import IST, ist_day_start
from wallet.payments.states import PaymentStatus

RECEIVED = frozenset(
    {
        PaymentStatus.CONFIRMED,
        PaymentStatus.SETTLING,
        PaymentStatus.PAID_OUT,
        PaymentStatus.COMPLETED,
    }
)


@dataclass(frozen=True, slots=True)
class Totals:
    today_paise: int
    today_count: int
    month_paise: int
    month_count: int


@dataclass(frozen=True, slots=True)
class DayVolume:
    day: date
    paise: int
    count: int


def _received_since(session: Session, merchant_id: int, start: datetime) -> list[Payment]:
    return list(
        session.scalars(
            select(Payment).where(
                Payment.merchant_id == merchant_id,
                Payment.created_at >= start,
                Payment.status.in_(RECEIVED),
            )
        )
    )


def totals(session: Session, merchant_id: int, *, now: datetime) -> Totals:
    today = now.astimezone(IST).date()
    month_start = ist_day_start(today.replace(day=1))
    day_start = ist_day_start(today)
    rows = _received_since(session, merchant_id, month_start)
    today_rows = [p for p in rows if p.created_at >= day_start]
    return Totals(
        today_paise=sum(p.amount_inr_paise for p in today_rows),
        today_count=len(today_rows),
        month_paise=sum(p.amount_inr_paise for p in rows),
        month_count=len(rows),
    )


def daily_volume(
    session: Session, merchant_id: int, *, now: datetime, days: int = 14
) -> list[DayVolume]:
    """One entry per IST day, oldest first, zero days included."""
    today = now.astimezone(IST).date()
    first = today - timedelta(days=days - 1)
    buckets = {first + timedelta(days=i): [0, 0] for i in range(days)}
    for p in _received_since(session, merchant_id, ist_day_start(first)):
        bucket = buckets.get(p.created_at.astimezone(IST).date())
        if bucket is not None:
            bucket[0] += p.amount_inr_paise
            bucket[1] += 1
    return [DayVolume(day, paise, count) for day, (paise, count) in buckets.items()]


def rupees(paise: int) -> str:
    """``₹1,234.50`` with Indian digit grouping (lakh, crore)."""
    whole, frac = divmod(abs(paise), 100)
    digits = str(whole)
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    text = ",".join([*groups, tail]) if groups else tail
    sign = "-" if paise < 0 else ""
    return f"{sign}₹{text}" + (f".{frac:02d}" if frac else "")


def volume_svg(points: list[DayVolume], *, width: int = 640, height: int = 220) -> str:
    """A bar chart of daily volume as inline SVG (no script: CSP-friendly)."""
    top, bottom, left = 16, 28, 8
    plot_h = height - top - bottom
    top_paise = max((p.paise for p in points), default=0)
    peak = top_paise or 1
    slot = (width - left * 2) / max(1, len(points))
    bars = []
    for i, p in enumerate(points):
        h = round(plot_h * p.paise / peak) if p.paise else 0
        x = left + i * slot + slot * 0.15
        y = top + plot_h - h
        label = f"{p.day:%d %b}: {rupees(p.paise)} ({p.count} payments)"
        bars.append(
            f'<rect x="{x:.1f}" y="{y}" width="{slot * 0.7:.1f}" height="{max(h, 1)}" '
            f'class="bar{"" if p.paise else " zero"}"><title>{escape(label)}</title></rect>'
        )
        if i % max(1, len(points) // 7) == 0 or i == len(points) - 1:
            bars.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{height - 8}" text-anchor="middle" '
                f'class="axis">{p.day:%d %b}</text>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-label="Daily volume, last {len(points)} days">'
        f'<text x="{left}" y="12" class="axis">peak {escape(rupees(top_paise))}</text>'
        + "".join(bars)
        + "</svg>"
    )
