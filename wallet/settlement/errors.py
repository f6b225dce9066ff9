"""Settlement errors with stable codes."""

from __future__ import annotations

from wallet.errors import WalletError


class SettlementError(WalletError):
    code = "settlement_error"
    http_status = 500


class SettlementRetryable(SettlementError):
    """An outside service could not say what happened; run again later (same keys)."""

    code = "settlement_retry_later"
    http_status = 503


class SellWaiting(SettlementRetryable):
    """The venues cannot take the sale now; the vendor is paid, the sale waits."""

    code = "settlement_sell_waiting"
