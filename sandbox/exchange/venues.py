"""The three venues the stand-in can play: pairs, seed balances, credentials.

Mid prices are plausible late-2026 levels. Symbols use the plain base asset
(``SHIBUSDT``, ``PEPEUSDT``, ``BONKUSDT``): real Binance spot lists SHIB and
PEPE that way, while BONK and some derivatives venues use a ``1000`` prefix
(``1000BONKUSDT`` on futures). The sandbox keeps plain names so the product's
symbol mapping stays one rule (asset + quote); a real-venue adapter that
meets a ``1000`` contract must scale prices and quantities by 1000.

Each pair's tick and step are chosen so that price × quantity never needs
more than 8 decimals, the precision Binance reports every amount with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as D

from sandbox.exchange.market import PairSpec


def _pair(
    base: str,
    quote: str,
    mid: str,
    tick: str,
    step: str,
    min_notional: str,
    max_qty: str,
    vol_bps: str,
    level_notional: str,
    spacing_bps: str = "1",
) -> PairSpec:
    return PairSpec(
        symbol=f"{base}{quote}",
        base=base,
        quote=quote,
        mid=D(mid),
        tick=D(tick),
        step=D(step),
        min_notional=D(min_notional),
        max_qty=D(max_qty),
        vol_bps=D(vol_bps),
        level_notional=D(level_notional),
        spacing_bps=D(spacing_bps),
    )


@dataclass(frozen=True)
class Venue:
    name: str
    pairs: tuple[PairSpec, ...]
    balances: dict[str, D] = field(default_factory=dict)
    api_key: str = ""
    api_secret: str = ""
    taker_fee_bps: int = 10
    maker_fee_bps: int = 10

    def settings(self, url: str) -> dict[str, str]:
        """The ``wallet.config.Settings`` fields that point the product here."""
        if self.name == "binance":
            return {
                "exchange_url": url,
                "exchange_api_key": self.api_key,
                "exchange_api_secret": self.api_secret,
            }
        if self.name == "inr":
            return {
                "inr_exchange_url": url,
                "inr_exchange_api_key": self.api_key,
                "inr_exchange_api_secret": self.api_secret,
            }
        return {"coinbase_url": url}


BINANCE_PAIRS = (
    _pair("BTC", "USDT", "90000", "0.01", "0.00001", "5", "9000", "1", "150000"),
    _pair("ETH", "USDT", "3000", "0.01", "0.0001", "5", "9000", "1.2", "100000"),
    _pair("SOL", "USDT", "150", "0.01", "0.001", "5", "90000", "1.5", "60000"),
    _pair("DOGE", "USDT", "0.15", "0.00001", "1", "1", "9000000000", "2", "30000", "3"),
    _pair("SHIB", "USDT", "0.000012", "0.00000001", "1", "1", "92233720368", "2", "20000", "3"),
    _pair("PEPE", "USDT", "0.000008", "0.00000001", "1", "1", "92233720368", "2.5", "20000", "3"),
    _pair("BONK", "USDT", "0.00002", "0.00000001", "1", "1", "92233720368", "2.5", "15000", "3"),
    _pair("USDC", "USDT", "1.0000", "0.0001", "1", "1", "9000000000", "0.1", "500000", "0.5"),
)

INR_PAIRS = (
    _pair("USDT", "INR", "88.00", "0.01", "0.01", "50", "9000000", "0.5", "5000000", "0.5"),
    _pair("BTC", "INR", "7920000", "1", "0.00001", "50", "9000", "1", "5000000"),
    _pair("ETH", "INR", "264000", "1", "0.0001", "50", "9000", "1.2", "3000000"),
)

# Coinbase Exchange quotes in USD; rates only, so the spec's filters go unused.
COINBASE_PAIRS = (
    _pair("BTC", "USD", "90000", "0.01", "0.00000001", "1", "1", "1", "150000"),
    _pair("ETH", "USD", "3000", "0.01", "0.00000001", "1", "1", "1.2", "100000"),
    _pair("SOL", "USD", "150", "0.01", "0.00000001", "1", "1", "1.5", "60000"),
    _pair("DOGE", "USD", "0.15", "0.00001", "0.1", "1", "1", "2", "30000", "3"),
    _pair("SHIB", "USD", "0.000012", "0.00000001", "1", "1", "1", "2", "20000", "3"),
    _pair("PEPE", "USD", "0.000008", "0.00000001", "1", "1", "1", "2.5", "20000", "3"),
    _pair("BONK", "USD", "0.00002", "0.00000001", "1", "1", "1", "2.5", "15000", "3"),
    _pair("USDT", "USD", "1.0000", "0.00001", "0.01", "1", "1", "0.1", "500000", "0.5"),
)


def venue(name: str, api_key: str | None = None, api_secret: str | None = None) -> Venue:
    """The named venue with its sandbox credentials (defaults match wallet.config)."""
    if name == "binance":
        return Venue(
            "binance",
            BINANCE_PAIRS,
            {
                "USDT": D("2000000"),
                "BTC": D("20"),
                "ETH": D("500"),
                "SOL": D("20000"),
                "DOGE": D("10000000"),
                "SHIB": D("200000000000"),
                "PEPE": D("200000000000"),
                "BONK": D("100000000000"),
                "USDC": D("1000000"),
            },
            api_key or "sandbox-exchange-key",
            api_secret or "sandbox-exchange-secret",
        )
    if name == "inr":
        return Venue(
            "inr",
            INR_PAIRS,
            {"INR": D("100000000"), "USDT": D("1000000"), "BTC": D("10"), "ETH": D("200")},
            api_key or "sandbox-inr-key",
            api_secret or "sandbox-inr-secret",
        )
    if name == "coinbase":
        return Venue("coinbase", COINBASE_PAIRS)
    raise ValueError(f"unknown venue {name!r}: binance | inr | coinbase")
