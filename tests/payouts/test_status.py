"""Payout statuses only ever move forward, whatever order observations arrive in."""

from __future__ import annotations

import itertools

import pytest

from wallet.payouts.status import FINAL, TERMINAL, PayoutStatus, advance, can_follow

S = PayoutStatus


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PENDING, S.QUEUED),
        (S.PENDING, S.REJECTED),
        (S.QUEUED, S.PROCESSING),
        (S.QUEUED, S.CANCELLED),
        (S.PROCESSING, S.PROCESSED),
        (S.PROCESSING, S.FAILED),
        (S.PROCESSED, S.REVERSED),
        (S.PROCESSING, S.REVERSED),  # processed webhook lost or reordered
    ],
)
def test_real_forward_moves_are_applied(current: PayoutStatus, new: PayoutStatus) -> None:
    assert can_follow(current, new)
    assert advance(current, new) == new


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PROCESSED, S.PROCESSING),  # payout.initiated arriving after payout.processed
        (S.PROCESSED, S.FAILED),  # only a reversal can undo a processed payout
        (S.REVERSED, S.PROCESSED),
        (S.FAILED, S.PROCESSED),
        (S.CANCELLED, S.PROCESSING),
        (S.PROCESSING, S.QUEUED),
        (S.PROCESSING, S.PROCESSING),
    ],
)
def test_backward_or_sideways_moves_are_ignored(current: PayoutStatus, new: PayoutStatus) -> None:
    assert not can_follow(current, new)
    assert advance(current, new) == current


def test_any_delivery_order_converges_on_the_latest_state() -> None:
    seen = [S.QUEUED, S.PROCESSING, S.PROCESSED, S.REVERSED]
    for order in itertools.permutations(seen):
        status = S.PENDING
        for observed in order:
            status = advance(status, observed)
        assert status == S.REVERSED


def test_terminal_and_final_sets() -> None:
    assert S.PROCESSED in TERMINAL and S.PROCESSED not in FINAL  # may still be reversed
    assert {S.FAILED, S.REJECTED, S.CANCELLED, S.REVERSED} == FINAL
    assert all(s.money_returned for s in FINAL)
    assert not S.PROCESSING.is_terminal and S.FAILED.is_final
