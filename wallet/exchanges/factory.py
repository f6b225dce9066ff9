"""Build exchange clients from :class:`wallet.config.Settings` (called at run time)."""

from __future__ import annotations

from typing import Any, Literal

from wallet.config import Settings
from wallet.exchanges.binance import BinanceClient
from wallet.exchanges.coinbase import CoinbaseTickerClient


def binance_from_settings(
    settings: Settings,
    venue: Literal["binance", "inr"] = "binance",
    *,
    credentials: tuple[str, str] | None = None,
    **options: Any,
) -> BinanceClient:
    """The primary Binance venue, or the INR venue (same API, its own URL and keys).

    ``credentials`` (key, secret) replace the settings' keys: the admin
    panel's stored keys (:mod:`wallet.exchanges.registry`).
    """
    if venue == "inr":
        key, secret = credentials or (
            settings.inr_exchange_api_key.get_secret_value(),
            settings.inr_exchange_api_secret.get_secret_value(),
        )
        return BinanceClient(settings.inr_exchange_url, key, secret, venue="inr", **options)
    key, secret = credentials or (
        settings.exchange_api_key.get_secret_value(),
        settings.exchange_api_secret.get_secret_value(),
    )
    return BinanceClient(settings.exchange_url, key, secret, venue="binance", **options)


def coinbase_from_settings(settings: Settings) -> CoinbaseTickerClient:
    """Coinbase Exchange's public ticker (rates only)."""
    return CoinbaseTickerClient(settings.coinbase_url)
