"""Quote errors, each with a stable ``code``."""

from __future__ import annotations

from wallet.errors import WalletError


class QuoteExpired(WalletError):
    """The quote's price lock ran out: re-quote before any funds move."""

    code = "quote_expired"
    http_status = 409
