"""The safe-sell decision rules, driven by a scripted venue (pure logic, no I/O).

The HTTP-level behaviour is proven against the stand-in in
``test_binance_client.py``; these cover the branches a live server cannot be
steered into deterministically, such as the look-up failing after a send.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from wallet.exchanges.errors import (
    ClientOrderIdConflict,
    ExchangeUnavailable,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
)
from wallet.exchanges.safe_sell import OutcomeUncertain, SafeSellPolicy, sell_once
from wallet.exchanges.types import Order, OrderStatus

POLICY = SafeSellPolicy(max_sends=3, lookup_attempts=4, lookup_backoff_s=0.0)


def order(qty: str = "1", side: str = "SELL") -> Order:
    return Order(
        "SOLUSDT",
        1,
        "cid",
        side,
        "MARKET",
        OrderStatus.FILLED,
        Decimal(qty),
        Decimal(qty),
        Decimal(150),
    )


class Venue:
    """A scripted venue: each call pops the next outcome (an Order or an exception)."""

    def __init__(self, sends: list[object], lookups: list[object]) -> None:
        self.sends, self.lookups = sends, lookups
        self.sent = 0
        self.looked = 0

    def _next(self, script: list[object]) -> Order:
        outcome = script.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, Order)
        return outcome

    def send(self) -> Order:
        self.sent += 1
        return self._next(self.sends)

    def lookup(self) -> Order:
        self.looked += 1
        return self._next(self.lookups)

    def run(self, qty: str = "1") -> Order:
        return sell_once(
            symbol="SOLUSDT",
            qty=Decimal(qty),
            client_order_id="cid",
            send=self.send,
            lookup=self.lookup,
            policy=POLICY,
            sleep=lambda _: None,
        )


def absent() -> OrderNotFound:
    return OrderNotFound("no such order", venue_code=-2013)


def test_existing_order_is_returned_without_sending() -> None:
    venue = Venue(sends=[], lookups=[order()])
    assert venue.run().recovered
    assert venue.sent == 0


def test_existing_order_with_other_terms_is_a_conflict() -> None:
    venue = Venue(sends=[], lookups=[order(qty="2")])
    with pytest.raises(ClientOrderIdConflict):
        venue.run("1")
    assert venue.sent == 0


def test_unknown_outcome_with_lookups_failing_never_resends() -> None:
    venue = Venue(
        sends=[OutcomeUncertain("dropped")],
        lookups=[absent()] + [ExchangeUnavailable("down") for _ in range(POLICY.lookup_attempts)],
    )
    with pytest.raises(OrderOutcomeUnknown):
        venue.run()
    assert venue.sent == 1


def test_a_single_not_found_after_an_ambiguous_send_is_not_enough() -> None:
    """One -2013 could be a lagging query endpoint: it must be confirmed before re-sending."""
    venue = Venue(sends=[OutcomeUncertain("dropped")], lookups=[absent(), absent(), order()])
    assert venue.run().recovered
    assert venue.sent == 1


def test_confirmed_absence_allows_exactly_one_resend() -> None:
    venue = Venue(
        sends=[OutcomeUncertain("reset"), order()],
        lookups=[absent(), absent(), absent()],
    )
    assert not venue.run().recovered
    assert venue.sent == 2


def test_definitive_rejection_is_raised_at_once() -> None:
    venue = Venue(sends=[OrderRejected("LOT_SIZE", venue_code=-1013)], lookups=[absent()])
    with pytest.raises(OrderRejected):
        venue.run()
    assert (venue.sent, venue.looked) == (1, 1)


def test_venue_down_before_sending_is_unavailable_not_unknown() -> None:
    venue = Venue(sends=[], lookups=[ExchangeUnavailable("down") for _ in range(4)])
    with pytest.raises(ExchangeUnavailable):
        venue.run()
    assert venue.sent == 0
