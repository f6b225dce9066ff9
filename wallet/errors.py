"""Typed error hierarchy: every domain error carries a stable ``code``.

The web tier maps these to ``{"error": {"code", "message"}}`` responses; the
codes are part of the public API and never change meaning.
"""

from __future__ import annotations


class WalletError(Exception):
    """Base of every expected, user-facing domain error."""

    code = "wallet_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidAmount(WalletError):
    code = "invalid_amount"


class UnknownAsset(WalletError):
    code = "unknown_asset"


class AssetMismatch(WalletError):
    code = "asset_mismatch"


class ConfigurationError(WalletError):
    code = "configuration_error"
    http_status = 500
