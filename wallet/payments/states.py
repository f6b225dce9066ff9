"""Payment statuses and the one table of allowed transitions.

The happy path runs down the left; every side edge is a fault the outside
world can cause (a reorg, a wrong amount, a reversed payout) or an
operator's decision (review, refund)::

    quote_issued ─────────────────▶ expired | failed
        │
        ▼
    awaiting_funds ◀───────────┬──▶ expired | failed
        │                      │ dropped from mempool / replaced (RBF)
        ▼                      │
    detected ──────────────────┴──▶ underpaid | overpaid | reorged | failed
        │  └──────────────────────▶ settling  (custodial: pay on first sight)
        ▼
    confirmed ────────────────────▶ reorged (deep reorg) | held_for_review
        │
        ▼
    settling ─────────────────────▶ held_for_review
        │
        ▼
    paid_out ─────────────────────▶ payout_reversed
        │
        ▼
    completed ────────────────────▶ payout_reversed (reversed after processed)

    reorged         ──▶ detected | awaiting_funds | expired | held_for_review
    underpaid       ──▶ detected (top-up) | refunded | held_for_review | reorged
    overpaid        ──▶ confirmed (excess refunded apart) | refunded
                        | held_for_review | reorged
    payout_reversed ──▶ settling (new attempt) | refunded | held_for_review
    held_for_review ──▶ settling (review cleared) | refunded
    expired, failed, refunded: terminal

The table below is the authority; the drawing is a map of it. Funded
payments end paid out (completed), refunded, or held for review with a
reason (RELIABILITY G4); ``failed`` and ``expired`` are for payments that
never received funds. Coins that reach an expired payment's address later
are credited to the payer's wallet as an ordinary deposit
(:mod:`wallet.custody.deposits`), so the payment itself stays expired.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class PaymentStatus(enum.StrEnum):
    QUOTE_ISSUED = "quote_issued"
    AWAITING_FUNDS = "awaiting_funds"
    DETECTED = "detected"
    CONFIRMED = "confirmed"
    SETTLING = "settling"
    PAID_OUT = "paid_out"
    COMPLETED = "completed"
    EXPIRED = "expired"
    UNDERPAID = "underpaid"
    OVERPAID = "overpaid"
    FAILED = "failed"
    REORGED = "reorged"
    PAYOUT_REVERSED = "payout_reversed"
    HELD_FOR_REVIEW = "held_for_review"
    REFUNDED = "refunded"


S = PaymentStatus

ALLOWED_TRANSITIONS: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    # The payer has a quote; accepting it opens the payment.
    S.QUOTE_ISSUED: frozenset({S.AWAITING_FUNDS, S.EXPIRED, S.FAILED}),
    # Waiting for a deposit (external) or our own broadcast (custodial).
    S.AWAITING_FUNDS: frozenset({S.DETECTED, S.EXPIRED, S.FAILED}),
    # Seen on chain (or in the mempool), not yet deep enough.
    S.DETECTED: frozenset(
        {
            S.CONFIRMED,
            S.SETTLING,  # custodial small payments pay out on first sight
            S.REORGED,
            S.AWAITING_FUNDS,  # dropped from the mempool or replaced (RBF)
            S.UNDERPAID,
            S.OVERPAID,
            S.FAILED,  # our own custodial transfer reverted
        }
    ),
    S.UNDERPAID: frozenset({S.DETECTED, S.REFUNDED, S.HELD_FOR_REVIEW, S.REORGED}),
    S.OVERPAID: frozenset({S.CONFIRMED, S.REFUNDED, S.HELD_FOR_REVIEW, S.REORGED}),
    S.CONFIRMED: frozenset({S.SETTLING, S.HELD_FOR_REVIEW, S.REORGED}),
    S.REORGED: frozenset({S.DETECTED, S.AWAITING_FUNDS, S.EXPIRED, S.HELD_FOR_REVIEW}),
    S.SETTLING: frozenset({S.PAID_OUT, S.HELD_FOR_REVIEW}),
    S.PAID_OUT: frozenset({S.COMPLETED, S.PAYOUT_REVERSED}),
    # RazorpayX can reverse a payout after it was processed, even days later.
    S.COMPLETED: frozenset({S.PAYOUT_REVERSED}),
    S.PAYOUT_REVERSED: frozenset({S.SETTLING, S.HELD_FOR_REVIEW, S.REFUNDED}),
    S.HELD_FOR_REVIEW: frozenset({S.SETTLING, S.REFUNDED}),
    # Late funds become the payer's deposit; the payment never revives.
    S.EXPIRED: frozenset(),
    S.FAILED: frozenset(),
    S.REFUNDED: frozenset(),
}

TERMINAL: frozenset[PaymentStatus] = frozenset(s for s, t in ALLOWED_TRANSITIONS.items() if not t)


def can_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    """Whether the table allows ``current`` → ``target``."""
    return target in ALLOWED_TRANSITIONS[current]
