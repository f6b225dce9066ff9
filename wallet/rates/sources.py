"""Rate sources: each turns one venue's prices into INR rates.

Every source answers ``fetch(symbols) -> {asset: (rate, observed_at)}`` where
the rate is paise per minor unit of the asset (see ``wallet.rates.types``).
Prices are mid prices of the best bid and ask; quotes are sized on the
books separately, so the rate is the reference the medians and breakers use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from fractions import Fraction
from typing import Protocol

from wallet.db.base import utcnow
from wallet.rates.books import market_asset, parse_decimal
from wallet.rates.errors import RateSourceError
from wallet.rates.types import rate_from_inr_price
from wallet.rates.venues import CoinbaseClient, SpotVenueClient, mid

SourceRates = dict[str, tuple[Fraction, datetime]]
Clock = Callable[[], datetime]


class RateSource(Protocol):
    """One independent opinion on each asset's INR rate."""

    name: str

    def fetch(self, symbols: Sequence[str]) -> SourceRates: ...


def _usdt_inr(client: SpotVenueClient, tickers: dict[str, tuple[Fraction, Fraction]]) -> Fraction:
    if "USDTINR" not in tickers:
        raise RateSourceError(f"{client.venue} lists no USDTINR market")
    value = mid(*tickers["USDTINR"])
    if value is None:
        raise RateSourceError(f"{client.venue} USDTINR has no prices")
    return value


class BinanceSource:
    """USDT pairs on the Binance-style venue × USDTINR from the INR venue."""

    def __init__(
        self,
        venue: SpotVenueClient,
        inr_venue: SpotVenueClient,
        *,
        name: str = "binance",
        clock: Clock = utcnow,
    ) -> None:
        self.name = name
        self._venue = venue
        self._inr_venue = inr_venue
        self._clock = clock

    def fetch(self, symbols: Sequence[str]) -> SourceRates:
        tickers = self._venue.book_tickers()
        usdt_inr = _usdt_inr(self._inr_venue, self._inr_venue.book_tickers())
        now = self._clock()
        out: SourceRates = {}
        for symbol in symbols:
            base = market_asset(symbol)
            if base == "USDT":
                price: Fraction | None = usdt_inr
            elif f"{base}USDT" in tickers:
                usdt = mid(*tickers[f"{base}USDT"])
                price = usdt * usdt_inr if usdt is not None else None
            else:
                price = None
            if price is not None:
                out[symbol] = (rate_from_inr_price(symbol, price), now)
        return out


class InrVenueSource:
    """The INR venue: direct INR pairs where listed, else its USDT pair × its USDTINR."""

    def __init__(self, venue: SpotVenueClient, *, name: str = "inr", clock: Clock = utcnow):
        self.name = name
        self._venue = venue
        self._clock = clock

    def fetch(self, symbols: Sequence[str]) -> SourceRates:
        tickers = self._venue.book_tickers()
        usdt_inr = mid(*tickers["USDTINR"]) if "USDTINR" in tickers else None
        now = self._clock()
        out: SourceRates = {}
        for symbol in symbols:
            base = market_asset(symbol)
            price: Fraction | None = None
            if f"{base}INR" in tickers:
                price = mid(*tickers[f"{base}INR"])
            elif f"{base}USDT" in tickers and usdt_inr is not None:
                usdt = mid(*tickers[f"{base}USDT"])
                price = usdt * usdt_inr if usdt is not None else None
            if price is not None:
                out[symbol] = (rate_from_inr_price(symbol, price), now)
        return out


class CoinbaseSource:
    """Coinbase-shape ``X-USD`` tickers × a USD/INR rate.

    USD/INR comes from ``usd_inr`` — a configured rate, or a callable such as
    the INR venue's USDTINR mid (USDT taken at par with USD).
    """

    def __init__(
        self,
        client: CoinbaseClient,
        usd_inr: Callable[[], Fraction],
        *,
        name: str = "coinbase",
        clock: Clock = utcnow,
    ) -> None:
        self.name = name
        self._client = client
        self._usd_inr = usd_inr
        self._clock = clock

    def fetch(self, symbols: Sequence[str]) -> SourceRates:
        usd_inr = self._usd_inr()
        out: SourceRates = {}
        for symbol in symbols:
            ticker = self._client.ticker(f"{market_asset(symbol)}-USD")
            if ticker is None:
                continue
            bid = parse_decimal(ticker["bid"]) if "bid" in ticker else Fraction(0)
            ask = parse_decimal(ticker["ask"]) if "ask" in ticker else Fraction(0)
            usd = mid(bid, ask)
            if usd is None and "price" in ticker:
                usd = parse_decimal(ticker["price"])
            if usd is None:
                continue
            out[symbol] = (rate_from_inr_price(symbol, usd * usd_inr), self._observed_at(ticker))
        return out

    def _observed_at(self, ticker: dict[str, object]) -> datetime:
        stamp = ticker.get("time")
        if isinstance(stamp, str):
            try:
                parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                return parsed
        return self._clock()


def fixed_usd_inr(text: str) -> Callable[[], Fraction]:
    """A configured USD/INR rate from a decimal string such as ``"83.25"``."""
    value = parse_decimal(text)
    return lambda: value


def usdt_inr_from(venue: SpotVenueClient) -> Callable[[], Fraction]:
    """USD/INR derived from the INR venue's USDTINR mid price."""
    return lambda: _usdt_inr(venue, venue.book_tickers())
