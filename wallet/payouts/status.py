"""RazorpayX payout statuses and the order in which they may follow each other.

RazorpayX ("Payout States and Life Cycle"): pending → queued/scheduled →
processing → processed | failed | rejected | cancelled, and ``reversed`` may
follow ``processed``. Webhooks repeat and arrive out of order, and polls race
with them, so every observation is applied through :func:`advance`, which
never moves a payout backwards.
"""

from __future__ import annotations

import enum


class PayoutStatus(enum.StrEnum):
    PENDING = "pending"  # awaiting approval (approval workflow)
    QUEUED = "queued"  # low balance, waits for funds
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    PROCESSED = "processed"  # money reached the beneficiary (UTR known)
    REVERSED = "reversed"  # came back after processed; amount returned to the float
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """The payout attempt has an outcome (``processed`` may still be reversed)."""
        return self in TERMINAL

    @property
    def is_final(self) -> bool:
        """Nothing can follow: no money moved, or it came back."""
        return self in FINAL

    @property
    def money_returned(self) -> bool:
        """The vendor did not keep the money: a new attempt (with a new key) is allowed."""
        return self in FINAL


TERMINAL = frozenset(
    {
        PayoutStatus.PROCESSED,
        PayoutStatus.REVERSED,
        PayoutStatus.CANCELLED,
        PayoutStatus.REJECTED,
        PayoutStatus.FAILED,
    }
)
FINAL = TERMINAL - {PayoutStatus.PROCESSED}

_RANK = {
    PayoutStatus.PENDING: 0,
    PayoutStatus.QUEUED: 1,
    PayoutStatus.SCHEDULED: 1,
    PayoutStatus.PROCESSING: 2,
    PayoutStatus.PROCESSED: 3,
    PayoutStatus.FAILED: 3,
    PayoutStatus.REJECTED: 3,
    PayoutStatus.CANCELLED: 3,
    PayoutStatus.REVERSED: 4,
}


def can_follow(current: PayoutStatus, new: PayoutStatus) -> bool:
    """True when ``new`` is a later state than ``current`` on some real path.

    ``reversed`` follows ``processed`` (and may be seen straight after
    ``processing`` when webhooks are reordered); nothing follows a final state,
    and terminal outcomes never replace one another except by reversal.
    """
    if current.is_final or new == current:
        return False
    if current == PayoutStatus.PROCESSED:
        return new == PayoutStatus.REVERSED
    return _RANK[new] > _RANK[current]


def advance(current: PayoutStatus, new: PayoutStatus) -> PayoutStatus:
    """The status after observing ``new``: ``new`` if it moves forward, else ``current``."""
    return new if can_follow(current, new) else current
