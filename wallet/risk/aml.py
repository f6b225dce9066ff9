"""AML patterns the engine looks for on every payment or withdrawal.

Each detector reads history and returns an :class:`AmlFlag` (or ``None``);
the engine adds its points to the score and raises a review case.

- **structuring**: several payments just under a reporting-style threshold
  (``[threshold − band, threshold)``) by one user inside a window, the
  current one included: splitting one large amount to stay under the radar.
- **rapid_deposit_spend**: crypto deposited to the user's custodial wallet
  less than a window ago and a payment spending most of it. Every external
  deposit counts as "from an unknown source": credits do not record the
  sending address yet, so no source can be known-good.
- **fan_in**: a VPA first paid on the platform recently, paid by many
  distinct users inside a window: the shape of a mule collecting scam
  proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, case, distinct, func, select
from sqlalchemy.orm import Session

from wallet.db.models import (
    AddressPurpose,
    Credit,
    Payment,
    PaymentStatus,
    User,
    WalletAddress,
)
from wallet.risk.config import RiskConfig

BPS = 10_000


@dataclass(frozen=True)
class AmlFlag:
    """One pattern found: ``kind`` is the stable reason code."""

    kind: str
    subject: str
    points: int
    details: dict[str, Any] = field(default_factory=dict)


def check_structuring(
    session: Session,
    user: User,
    amount_paise: int,
    now: datetime,
    config: RiskConfig,
    *,
    exclude_payment_id: str | None = None,
) -> AmlFlag | None:
    """Flag the ``structuring_min_count``-th payment just under the threshold."""
    threshold = config.structuring_threshold_paise
    low = threshold - threshold * config.structuring_band_bps // BPS
    if not low <= amount_paise < threshold:
        return None
    since = now - timedelta(seconds=config.structuring_window_seconds)
    query = select(Payment.id, Payment.amount_inr_paise).where(
        Payment.user_id == user.id,
        Payment.created_at >= since,
        Payment.status != PaymentStatus.FAILED,
    )
    # Filtered in Python: amounts are text on SQLite, and velocity limits keep this short.
    near = [pid for pid, amount in session.execute(query) if low <= amount < threshold]
    near = [pid for pid in near if pid != exclude_payment_id]
    count = len(near) + 1
    if count < config.structuring_min_count:
        return None
    return AmlFlag(
        "structuring",
        f"user:{user.id}",
        config.structuring_points,
        {"count": count, "band_paise": [low, threshold], "payment_ids": sorted(near)},
    )


@cache
def _fresh_credits_query() -> Select[int, datetime]:
    """Built once: the user's external deposits of an asset, unspent, in a window."""
    return (
        select(Credit.amount_minor, Credit.created_at)
        .join(
            WalletAddress,
            (WalletAddress.chain == Credit.chain) & (WalletAddress.address == Credit.address),
        )
        .where(
            WalletAddress.user_id == bindparam("user_id"),
            WalletAddress.purpose == AddressPurpose.CUSTODIAL,
            Credit.payment_id.is_(None),
            Credit.asset == bindparam("asset"),
            Credit.created_at >= bindparam("since"),
            Credit.created_at <= bindparam("now"),
        )
    )


def check_rapid_spend(
    session: Session,
    user: User,
    asset: str,
    amount_minor: int | None,
    now: datetime,
    config: RiskConfig,
) -> AmlFlag | None:
    """Flag spending at least ``rapid_spend_ratio_bps`` of fresh external deposits."""
    if amount_minor is None or amount_minor <= 0:
        return None
    since = now - timedelta(seconds=config.rapid_spend_window_seconds)
    rows = session.execute(
        _fresh_credits_query(), {"user_id": user.id, "asset": asset, "since": since, "now": now}
    ).all()
    fresh = sum(int(amount) for amount, _ in rows)
    if fresh <= 0 or amount_minor * BPS < fresh * config.rapid_spend_ratio_bps:
        return None
    first = min(at for _, at in rows)
    return AmlFlag(
        "rapid_deposit_spend",
        f"user:{user.id}",
        config.rapid_spend_points,
        {
            "asset": asset,
            "fresh_minor": str(fresh),
            "spend_minor": str(amount_minor),
            "minutes_since_deposit": int((now - first).total_seconds() // 60),
        },
    )


@cache
def _fan_in_query(excluding: bool) -> Select[Any]:
    """Built once (statement construction costs more than running it): the payee's
    first payment and, for a new payee only, the other payers in the window."""
    vpa = bindparam("vpa", type_=Payment.payee_vpa.type)
    first_seen = select(func.min(Payment.created_at)).where(Payment.payee_vpa == vpa)
    others = select(func.count(distinct(Payment.user_id))).where(
        Payment.payee_vpa == vpa,
        Payment.created_at >= bindparam("since"),
        Payment.status != PaymentStatus.FAILED,
        Payment.user_id != bindparam("user_id"),
    )
    if excluding:
        others = others.where(Payment.id != bindparam("exclude"))
    seen = first_seen.scalar_subquery()
    return select(seen, case((seen >= bindparam("established"), others.scalar_subquery())))


def check_fan_in(
    session: Session,
    user: User,
    payee_vpa: str,
    now: datetime,
    config: RiskConfig,
    *,
    exclude_payment_id: str | None = None,
) -> AmlFlag | None:
    """Flag a new VPA collecting from ``fan_in_min_payers`` or more distinct users.

    One statement: when the payee was first paid and, only for a payee newer
    than ``fan_in_new_vpa_seconds`` (the CASE skips the count otherwise), how
    many other users paid it within the window.
    """
    established = now - timedelta(seconds=config.fan_in_new_vpa_seconds)
    params = {
        "vpa": payee_vpa,
        "user_id": user.id,
        "since": now - timedelta(seconds=config.fan_in_window_seconds),
        "established": established,
    }
    if exclude_payment_id is not None:
        params["exclude"] = exclude_payment_id
    query = _fan_in_query(exclude_payment_id is not None)
    seen, counted = session.execute(query, params).one()
    if seen is not None and seen < established:
        return None  # an established payee: many payers is what a shop looks like
    payers = 1 + int(counted or 0)  # the payer and the others
    if payers < config.fan_in_min_payers:
        return None
    return AmlFlag(
        "fan_in",
        f"vpa:{payee_vpa}",
        config.fan_in_points,
        {"payers": payers, "first_seen": (seen or now).isoformat()},
    )
