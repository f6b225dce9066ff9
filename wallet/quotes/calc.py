"""Quote arithmetic: rupees owed → crypto to pay, with every fee shown.

Order of work for ``inr_paise`` of ``asset``:
1. Refuse bad input, a paused asset, or a stale rate (before any maths).
2. Fees in paise, each rounded UP: platform fee (bps + fixed), the chain's
   network fee, TDS (``QuoteRequest.tds_paise``) and the volatility buffer of the
   asset's class on everything before it. Their sum with the vendor's amount
   is what selling the crypto must fetch: ``target_paise``.
3. The cheapest route sized for ``target_paise`` by walking the order books
   (``wallet.rates.routes``): the least crypto, rounded UP in minor units,
   whose sale yields at least the target. As a guard against a glitching
   book, the amount is never below what the reference median rate implies.
4. The crypto amount is split over the components (largest remainder, so
   the parts sum exactly) and the quote expires after its chain's TTL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from wallet.assets import Chain, get_asset
from wallet.errors import ConfigurationError, InvalidAmount, UnknownAsset
from wallet.money import Rounding, allocate, divide, format_minor
from wallet.quotes.config import QuoteConfig
from wallet.quotes.errors import QuoteExpired
from wallet.rates.breakers import Pause, PauseStore, ensure_not_paused
from wallet.rates.cache import RateCache, fresh_rate
from wallet.rates.errors import StaleBooks, StaleRate
from wallet.rates.routes import Books, Route, best_route, candidate_routes
from wallet.rates.types import BPS, AssetRate, display_rate, percent


@dataclass(frozen=True)
class QuoteRequest:
    """What the payer asked for: pay ``inr_paise`` to ``payee`` with ``asset``."""

    inr_paise: int
    asset: str
    payee: str | None = None  # the vendor's VPA, carried through for the service layer
    # Section 194S TDS for this payer, computed by the service layer with
    # wallet.compliance.tds.tds_for (it depends on the payer's PAN and yearly
    # total, which pure pricing cannot see); None falls back to config.tds_bps.
    tds_paise: int | None = None


@dataclass(frozen=True)
class FeeBreakdown:
    """Each component in paise, and the share of the crypto amount that covers it."""

    platform_paise: int
    network_paise: int
    buffer_paise: int
    tds_paise: int
    vendor_minor: int
    platform_minor: int
    network_minor: int
    buffer_minor: int
    tds_minor: int

    @property
    def total_paise(self) -> int:
        return self.platform_paise + self.network_paise + self.buffer_paise + self.tds_paise


@dataclass(frozen=True)
class QuoteCalculation:
    """A priced quote, ready for the service layer to persist and show."""

    asset: str
    chain: Chain
    inr_paise: int  # what the vendor receives
    payee: str | None
    crypto_minor: int  # what the payer sends, all fees included
    target_paise: int  # vendor amount + fees: what the sale must fetch
    rate: Fraction  # target_paise / crypto_minor: paise per minor unit, all-in
    rate_display: str  # ₹ per whole coin, rounded down
    reference_rate: Fraction  # the cached median rate, paise per minor unit
    fees: FeeBreakdown
    route: Route
    route_description: str
    proceeds_paise: int  # selling crypto_minor along the route at quote time
    slippage_pct: str  # display: percent with two decimals
    created_at: datetime
    expires_at: datetime

    @property
    def crypto_display(self) -> str:
        return format_minor(self.crypto_minor, get_asset(self.asset).decimals, trim=True)

    def as_record(self) -> dict[str, Any]:
        """Column values for ``wallet.db.models.Quote`` (the service layer adds ids).

        ``rate`` is the display string; the exact rate travels in ``fees`` as a
        numerator/denominator pair. Minor units are strings in JSON because wei
        amounts exceed what JSON numbers carry safely.
        """
        f = self.fees
        return {
            "asset": self.asset,
            "amount_minor": self.crypto_minor,
            "amount_inr_paise": self.inr_paise,
            "rate": self.rate_display,
            "fees": {
                "platform_paise": f.platform_paise,
                "network_paise": f.network_paise,
                "buffer_paise": f.buffer_paise,
                "tds_paise": f.tds_paise,
                "target_paise": self.target_paise,
                "vendor_minor": str(f.vendor_minor),
                "platform_minor": str(f.platform_minor),
                "network_minor": str(f.network_minor),
                "buffer_minor": str(f.buffer_minor),
                "tds_minor": str(f.tds_minor),
                "rate_paise_per_minor": [str(self.rate.numerator), str(self.rate.denominator)],
                "reference_rate_paise_per_minor": [
                    str(self.reference_rate.numerator),
                    str(self.reference_rate.denominator),
                ],
            },
            "route": {
                "description": self.route_description,
                "legs": [
                    {"venue": m.venue, "symbol": m.symbol, "base": m.base, "quote": m.quote}
                    for m in self.route.legs
                ],
                "proceeds_paise": self.proceeds_paise,
                "slippage_pct": self.slippage_pct,
            },
            "payee_vpa": self.payee,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


def _bps_up(amount: int, bps: int) -> int:
    return divide(amount * bps, BPS, Rounding.UP)


def _validate(request: QuoteRequest, config: QuoteConfig) -> None:
    amount = request.inr_paise
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount("the INR amount must be an integer number of paise")
    if amount < config.min_payment_paise:
        raise InvalidAmount(
            f"the minimum payment is {format_minor(config.min_payment_paise, 2)} INR"
        )
    tds = request.tds_paise
    if tds is not None and (isinstance(tds, bool) or not isinstance(tds, int) or tds < 0):
        raise InvalidAmount("the TDS must be a non-negative integer number of paise")
    if amount > config.max_payment_paise:
        raise InvalidAmount(
            f"the maximum payment is {format_minor(config.max_payment_paise, 2)} INR"
        )
    asset = get_asset(request.asset)
    if asset.chain is Chain.FIAT:
        raise UnknownAsset(f"{request.asset} cannot be paid with")


def _fresh_books(books: Books, now: datetime, max_age: timedelta) -> Books:
    return {k: b for k, b in books.items() if now - b.fetched_at <= max_age}


def make_quote(
    request: QuoteRequest,
    *,
    rates: Mapping[str, AssetRate],
    books: Books,
    now: datetime,
    config: QuoteConfig,
    pause: Pause | None = None,
) -> QuoteCalculation:
    """Price ``request`` from injected rates, books, pause state and clock (pure)."""
    _validate(request, config)
    asset = get_asset(request.asset)
    ensure_not_paused(pause, asset.symbol)

    max_age = timedelta(seconds=config.rates.rate_max_age_seconds)
    reference = rates.get(asset.symbol)
    if reference is None:
        raise StaleRate(f"no current rate for {asset.symbol}")
    if now - reference.observed_at > max_age:
        raise StaleRate(
            f"the {asset.symbol} rate is older than {config.rates.rate_max_age_seconds} s"
        )
    fresh = _fresh_books(books, now, timedelta(seconds=config.rates.book_max_age_seconds))
    if len(fresh) < len(books) and not candidate_routes(
        asset.symbol, (b.market for b in fresh.values())
    ):
        raise StaleBooks(
            f"the {asset.symbol} order books are stale "
            f"(older than {config.rates.book_max_age_seconds} s)"
        )

    inr = request.inr_paise
    platform = _bps_up(inr, config.platform_fee_bps) + config.platform_fee_fixed_paise
    try:
        network = config.network_fee_paise[asset.chain.value]
        buffer_bps = config.volatility_buffer_bps[asset.asset_class.value]
    except KeyError as exc:
        raise ConfigurationError(f"no fee configured for {exc.args[0]}") from None
    tds = _bps_up(inr, config.tds_bps) if request.tds_paise is None else request.tds_paise
    buffer = _bps_up(inr + platform + network + tds, buffer_bps)
    target = inr + platform + network + tds + buffer

    plan = best_route(
        asset.symbol,
        target,
        fresh,
        config.rates.taker_fee_bps,
        config.rates.slippage_limit_bps,
    )
    at_reference = divide(
        target * reference.rate.denominator, reference.rate.numerator, Rounding.UP
    )
    crypto = max(plan.crypto_minor, at_reference)

    vendor_m, platform_m, network_m, tds_m, buffer_m = allocate(
        crypto, [inr, platform, network, tds, buffer]
    )
    rate = Fraction(target, crypto)
    return QuoteCalculation(
        asset=asset.symbol,
        chain=asset.chain,
        inr_paise=inr,
        payee=request.payee,
        crypto_minor=crypto,
        target_paise=target,
        rate=rate,
        rate_display=display_rate(asset.symbol, rate, Rounding.DOWN),
        reference_rate=reference.rate,
        fees=FeeBreakdown(
            platform_paise=platform,
            network_paise=network,
            buffer_paise=buffer,
            tds_paise=tds,
            vendor_minor=vendor_m,
            platform_minor=platform_m,
            network_minor=network_m,
            buffer_minor=buffer_m,
            tds_minor=tds_m,
        ),
        route=plan.route,
        route_description=plan.route.describe(),
        proceeds_paise=plan.proceeds_paise,
        slippage_pct=percent(plan.slippage),
        created_at=now,
        expires_at=now + timedelta(seconds=config.ttl_seconds(asset.chain)),
    )


def check_quote_valid(quote: QuoteCalculation, now: datetime) -> None:
    """Refuse a payment against an expired quote before any funds move."""
    if now >= quote.expires_at:
        raise QuoteExpired(
            f"the quote for {quote.crypto_display} {quote.asset} expired at "
            f"{quote.expires_at.isoformat()}; request a new quote"
        )


def quote_from_sources(
    request: QuoteRequest,
    *,
    cache: RateCache,
    books: Callable[[], Books],
    pauses: PauseStore,
    config: QuoteConfig,
    now: datetime,
) -> QuoteCalculation:
    """Gather the live inputs (pause, fresh rate, books) and price with :func:`make_quote`.

    The cheap refusals come first, so a paused asset or a stale rate never
    costs a round of order-book requests.
    """
    _validate(request, config)
    ensure_not_paused(pauses.active(request.asset), request.asset)
    rate = fresh_rate(cache, request.asset, now, config.rates.rate_max_age_seconds)
    return make_quote(request, rates={request.asset: rate}, books=books(), now=now, config=config)
