"""Errors of the rates and conversion layer, each with a stable ``code``."""

from __future__ import annotations

from wallet.errors import WalletError


class StaleRate(WalletError):
    """No rate fresh enough to quote from: never a quote from old prices."""

    code = "rate_stale"
    http_status = 503


class StaleBooks(StaleRate):
    """No order books fresh enough to size a route (same code: no quote from old prices)."""


class InsufficientLiquidity(WalletError):
    """The order books cannot absorb this size within the slippage limit."""

    code = "insufficient_liquidity"
    http_status = 422


class AssetPaused(WalletError):
    """A circuit breaker has paused new quotes for this asset."""

    code = "asset_paused"
    http_status = 503


class RateSourceError(WalletError):
    """A rate source answered with something we cannot use."""

    code = "rate_source_error"
    http_status = 502
