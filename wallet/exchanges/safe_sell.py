"""Sell at most once per client order id, whatever the network does.

Binance keeps ``newClientOrderId`` unique only among *open* orders, and a
filled MARKET order is no longer open: re-sending it sells a second time.
So an ambiguous answer (timeout, dropped connection, 5xx, ``-1007``) is
resolved by querying the order by ``origClientOrderId`` first (RELIABILITY.md,
G3); a new request goes out only when the venue says, twice, that no such
order exists (``-2013``). The double check covers the short window in which a
just-accepted order may not yet be visible to the query endpoint.

The same look-up runs *before* the first send, so a settlement rerun after a
crash between "order sent" and "result stored" finds the earlier fill instead
of selling again. Two workers must not sell the same attempt concurrently;
settlement serialises attempts in the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from wallet.exchanges.errors import (
    ClientOrderIdConflict,
    ExchangeAuthError,
    ExchangeError,
    ExchangeUnavailable,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
)
from wallet.exchanges.types import Order

log = logging.getLogger(__name__)


class OutcomeUncertain(Exception):
    """Raised by a single send attempt when the venue's answer was lost or ambiguous."""


@dataclass(frozen=True)
class SafeSellPolicy:
    """How hard to try. Delays are seconds."""

    max_sends: int = 3
    lookup_attempts: int = 6
    lookup_backoff_s: float = 0.2
    absent_confirmations: int = 2


def sell_once(
    *,
    symbol: str,
    qty: Decimal,
    client_order_id: str,
    send: Callable[[], Order],
    lookup: Callable[[], Order],
    policy: SafeSellPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> Order:
    """Run the safe sell: look up, send, and on doubt look up again before re-sending.

    ``send`` makes one attempt and raises :class:`OutcomeUncertain` when the
    answer is ambiguous, or a definitive :class:`OrderRejected` /
    :class:`ExchangeAuthError`. ``lookup`` returns the order by client id or
    raises :class:`OrderNotFound`.
    """
    try:
        existing = _resolve(lookup, policy, sleep, confirmations=1)
    except OrderOutcomeUnknown as exc:  # nothing was sent yet: the venue is just down
        raise ExchangeUnavailable(f"sell {symbol} {client_order_id}: {exc}") from exc
    if existing is not None:
        return _checked(existing, symbol, qty, client_order_id)
    for attempt in range(1, policy.max_sends + 1):
        try:
            return send()
        except (OrderRejected, ExchangeAuthError):
            raise
        except OutcomeUncertain as exc:
            log.warning(
                "sell %s %s: ambiguous answer on send %d (%s); looking it up",
                symbol,
                client_order_id,
                attempt,
                exc,
            )
        found = _resolve(lookup, policy, sleep, confirmations=policy.absent_confirmations)
        if found is not None:
            return _checked(found, symbol, qty, client_order_id)
        log.info("sell %s %s: venue confirms no such order; re-sending", symbol, client_order_id)
    raise OrderOutcomeUnknown(
        f"sell {symbol} {client_order_id}: no definitive answer after {policy.max_sends} sends"
    )


def _resolve(
    lookup: Callable[[], Order],
    policy: SafeSellPolicy,
    sleep: Callable[[float], None],
    confirmations: int,
) -> Order | None:
    """The order, or None once the venue said ``confirmations`` times it does not exist."""
    absent = 0
    for attempt in range(policy.lookup_attempts):
        if attempt:
            sleep(policy.lookup_backoff_s * attempt)
        try:
            return replace(lookup(), recovered=True)
        except OrderNotFound:
            absent += 1
            if absent >= confirmations:
                return None
        except ExchangeError as exc:
            if isinstance(exc, ExchangeAuthError):
                raise
            log.warning("order lookup failed (%s); retrying", exc.code)
    raise OrderOutcomeUnknown("the venue could not say whether the order exists")


def _checked(order: Order, symbol: str, qty: Decimal, client_order_id: str) -> Order:
    if order.side != "SELL" or order.type != "MARKET" or order.orig_qty != qty:
        raise ClientOrderIdConflict(
            f"client order id {client_order_id} on {symbol} belongs to a different order "
            f"({order.side} {order.type} {order.orig_qty})"
        )
    return order
