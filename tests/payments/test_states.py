"""The transition table itself: complete, and every payment can end (G4)."""

from __future__ import annotations

from wallet.payments.states import ALLOWED_TRANSITIONS, TERMINAL, PaymentStatus

S = PaymentStatus
FUNDED_OUTCOMES = {S.COMPLETED, S.REFUNDED, S.HELD_FOR_REVIEW}


def _reachable(start: PaymentStatus) -> set[PaymentStatus]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in ALLOWED_TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_status_has_a_row_and_no_self_loops() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(PaymentStatus)
    for status, targets in ALLOWED_TRANSITIONS.items():
        assert status not in targets


def test_terminal_statuses() -> None:
    assert {S.FAILED, S.REFUNDED, S.EXPIRED} == TERMINAL


def test_every_status_is_reachable_from_a_quote() -> None:
    assert _reachable(S.QUOTE_ISSUED) == set(PaymentStatus)


def test_every_funded_status_can_reach_an_outcome() -> None:
    funded = {
        S.DETECTED,
        S.CONFIRMED,
        S.SETTLING,
        S.PAID_OUT,
        S.UNDERPAID,
        S.OVERPAID,
        S.REORGED,
        S.PAYOUT_REVERSED,
        S.HELD_FOR_REVIEW,
    }
    for status in funded:
        assert _reachable(status) & FUNDED_OUTCOMES, status


def test_money_never_leaves_without_settling() -> None:
    """paid_out is entered only from settling: no payout skips settlement."""
    sources = {s for s, targets in ALLOWED_TRANSITIONS.items() if S.PAID_OUT in targets}
    assert sources == {S.SETTLING}
    # A refund happens only once funds are known and not paid out.
    refund_sources = {s for s, t in ALLOWED_TRANSITIONS.items() if S.REFUNDED in t}
    assert refund_sources == {S.UNDERPAID, S.OVERPAID, S.PAYOUT_REVERSED, S.HELD_FOR_REVIEW}
