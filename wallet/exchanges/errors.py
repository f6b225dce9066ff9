"""Exchange errors, each with a stable ``code``; ``venue_code`` keeps the venue's own."""

from __future__ import annotations

from wallet.errors import WalletError


class ExchangeError(WalletError):
    """Base of every exchange failure. ``venue_code`` is e.g. Binance's ``-1013``."""

    code = "exchange_error"
    http_status = 502

    def __init__(self, message: str, *, venue_code: int | None = None) -> None:
        super().__init__(message)
        self.venue_code = venue_code


class ExchangeUnavailable(ExchangeError):
    """The venue could not be reached or answered 5xx: reads may simply be retried."""

    code = "exchange_unavailable"


class ExchangeProtocolError(ExchangeError):
    """The venue answered something we cannot parse exactly (e.g. a float amount)."""

    code = "exchange_protocol_error"


class ExchangeAuthError(ExchangeError):
    """Signature, key or timestamp refused (-1021, -1022, -2014, -2015): nothing executed."""

    code = "exchange_auth_failed"


class OrderRejected(ExchangeError):
    """The venue definitively refused the order (filters, parameters): nothing executed."""

    code = "exchange_order_rejected"
    http_status = 400


class InsufficientExchangeBalance(OrderRejected):
    code = "exchange_insufficient_balance"


class OrderNotFound(ExchangeError):
    """The venue says no order has this id (Binance -2013)."""

    code = "exchange_order_not_found"
    http_status = 404


class OrderOutcomeUnknown(ExchangeError):
    """We could not learn whether the order exists. Never send a new one: call
    ``market_sell`` again later with the SAME client order id (it looks first)."""

    code = "exchange_order_outcome_unknown"


class ClientOrderIdConflict(ExchangeError):
    """An order with this client id exists but is not the one requested."""

    code = "exchange_client_order_id_conflict"
    http_status = 409
