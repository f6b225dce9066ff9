"""What the payments sensor looks at: cheap, indexed queries, no outside calls.

- *New work*: payments that became ``confirmed`` after the watermark
  (``updated_at``, ``id``) — each is requested once, keyed by its id.
- *Safety net*: payments that should have moved but did not — still
  ``confirmed`` or ``settling`` a while after their last change (a failed
  run, a missed webhook, an ambiguous outcome), or ``paid_out`` and not yet
  sold. These are re-requested at most once per ``retry_after`` bucket.
- *Stuck*: funded payments past their SLA in any state (RELIABILITY G4).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from wallet.db.models.payments import Payment
from wallet.payments.states import PaymentStatus

FUNDED_OPEN = (
    PaymentStatus.DETECTED,
    PaymentStatus.CONFIRMED,
    PaymentStatus.SETTLING,
    PaymentStatus.PAID_OUT,
    PaymentStatus.UNDERPAID,
    PaymentStatus.OVERPAID,
    PaymentStatus.REORGED,
    PaymentStatus.PAYOUT_REVERSED,
)


@dataclass(frozen=True)
class Watermark:
    """The newest ``confirmed`` payment already requested."""

    updated_at: datetime | None = None
    payment_id: str = ""

    def encode(self) -> str:
        at = self.updated_at.isoformat() if self.updated_at else None
        return json.dumps({"updated_at": at, "id": self.payment_id})

    @classmethod
    def decode(cls, text: str | None) -> Watermark:
        if not text:
            return cls()
        data = json.loads(text)
        at = data.get("updated_at")
        return cls(datetime.fromisoformat(at) if at else None, data.get("id", ""))


def newly_confirmed(
    session: Session, mark: Watermark, limit: int = 50, *, until: datetime | None = None
) -> tuple[list[str], Watermark]:
    """Confirmed payments after ``mark`` (oldest first) and the advanced watermark.

    ``until`` leaves out payments that changed after it: those whose confirmer
    submits their settlement itself get that long before the sensor asks again.
    """
    query = select(Payment.id, Payment.updated_at).where(Payment.status == PaymentStatus.CONFIRMED)
    if until is not None:
        query = query.where(Payment.updated_at <= until)
    if mark.updated_at is not None:
        query = query.where(
            or_(
                Payment.updated_at > mark.updated_at,
                and_(Payment.updated_at == mark.updated_at, Payment.id > mark.payment_id),
            )
        )
    rows = session.execute(query.order_by(Payment.updated_at, Payment.id).limit(limit)).all()
    if not rows:
        return [], mark
    return [r.id for r in rows], Watermark(rows[-1].updated_at, rows[-1].id)


def _late(
    statuses: Sequence[PaymentStatus],
    now: datetime,
    after_s: float,
    paid_out_after_s: float | None,
) -> ColumnElement[bool]:
    """In ``statuses`` (``paid_out`` among them) and unchanged for ``after_s``.

    A ``paid_out`` payment's vendor is paid and only the sale of its crypto
    waits, so it is late after ``paid_out_after_s`` (default: ``after_s``).
    """
    others = [s for s in statuses if s is not PaymentStatus.PAID_OUT]
    unsold_after_s = after_s if paid_out_after_s is None else paid_out_after_s
    return or_(
        and_(Payment.status.in_(others), Payment.updated_at < now - timedelta(seconds=after_s)),
        and_(
            Payment.status == PaymentStatus.PAID_OUT,
            Payment.updated_at < now - timedelta(seconds=unsold_after_s),
        ),
    )


def overdue(
    session: Session,
    now: datetime,
    retry_after_s: float,
    limit: int = 50,
    *,
    sell_retry_after_s: float | None = None,
) -> list[str]:
    """Payments that should have moved on by now: the safety net's work list.

    ``confirmed`` and ``settling`` payments are due after ``retry_after_s``;
    ``paid_out`` ones (the vendor is paid, the crypto not yet sold) after
    ``sell_retry_after_s`` (default: the same), which is longer when another
    process sells them (the warm settlement worker).
    """
    settling = (PaymentStatus.CONFIRMED, PaymentStatus.SETTLING, PaymentStatus.PAID_OUT)
    return list(
        session.scalars(
            select(Payment.id)
            .where(_late(settling, now, retry_after_s, sell_retry_after_s))
            .order_by(Payment.updated_at, Payment.id)
            .limit(limit)
        )
    )


def stuck(
    session: Session, now: datetime, sla_s: float, *, unsold_sla_s: float | None = None
) -> list[tuple[str, str]]:
    """Funded payments unchanged for longer than the SLA: ``(id, status)``.

    A ``paid_out`` payment has reached the vendor's outcome; what waits is the
    sale of its crypto, and a sale below a venue's minimum order waits for
    volume by design, so it is late only after ``unsold_sla_s`` (default: the
    same SLA).
    """
    rows = session.execute(
        select(Payment.id, Payment.status).where(_late(FUNDED_OPEN, now, sla_s, unsold_sla_s))
    ).all()
    return [(r.id, r.status.value) for r in rows]
