"""Build exchange clients from :class:`wallet.config.Settings` (called at run time)."""

from __future__ import annotations

from typing import Literal

from wallet.config import Settings
from wallet.exchanges.binance import BinanceClient
from wallet.exchanges.coinbase import CoinbaseTickerClient


def binance_from_settings(
    settings: Settings, venue: Literal["binance", "inr"] = "binance"
) -> BinanceClient:
    """The primary Binance venue, or the INR venue (same API, its own URL and keys)."""
    if venue == "inr":
        return BinanceClient(
            settings.inr_exchange_url,
            settings.inr_exchange_api_key.get_secret_value(),
            settings.inr_exchange_api_secret.get_secret_value(),
            venue="inr",
        )
    return BinanceClient(
        settings.exchange_url,
        settings.exchange_api_key.get_secret_value(),
        settings.exchange_api_secret.get_secret_value(),
        venue="binance",
    )


def coinbase_from_settings(settings: Settings) -> CoinbaseTickerClient:
    """Coinbase Exchange's public ticker (rates only)."""
    return CoinbaseTickerClient(settings.coinbase_url)
