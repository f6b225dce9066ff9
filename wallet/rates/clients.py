"""Assemble the rate sources and book readers from configuration.

The Dagster resource (and scripts) call :func:`build_rate_clients` with the
venue URLs from ``Settings`` (``exchange_url``, ``inr_exchange_url``,
``coinbase_url``) and close the result when done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from wallet.db.base import utcnow
from wallet.rates.books import OrderBook
from wallet.rates.routes import BookKey
from wallet.rates.sources import (
    BinanceSource,
    CoinbaseSource,
    InrVenueSource,
    RateSource,
    fixed_usd_inr,
    usdt_inr_from,
)
from wallet.rates.venues import CoinbaseClient, SpotVenueClient, fetch_books


@dataclass
class RateClients:
    """Rate sources plus the spot venues whose books the route finder walks."""

    sources: list[RateSource]
    venues: dict[str, SpotVenueClient]
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def books(self, clock: Callable[[], datetime] = utcnow) -> dict[BookKey, OrderBook]:
        return fetch_books(self.venues, clock=clock)

    def close(self) -> None:
        for close in self._closers:
            close()


def build_rate_clients(
    exchange_url: str,
    inr_exchange_url: str,
    coinbase_url: str | None = None,
    *,
    usd_inr_rate: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> RateClients:
    """Binance-style and INR venues always; Coinbase when its URL is configured."""
    binance = SpotVenueClient("binance", exchange_url)
    inr = SpotVenueClient("inr", inr_exchange_url)
    sources: list[RateSource] = [
        BinanceSource(binance, inr, clock=clock),
        InrVenueSource(inr, clock=clock),
    ]
    closers: list[Callable[[], None]] = [binance.close, inr.close]
    if coinbase_url:
        coinbase = CoinbaseClient(coinbase_url)
        usd_inr: Callable[[], Fraction] = (
            fixed_usd_inr(usd_inr_rate) if usd_inr_rate else usdt_inr_from(inr)
        )
        sources.append(CoinbaseSource(coinbase, usd_inr, clock=clock))
        closers.append(coinbase.close)
    return RateClients(sources, {"binance": binance, "inr": inr}, closers)
