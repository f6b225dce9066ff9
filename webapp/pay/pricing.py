"""Where the web tier gets prices: the rates cache, order books and pauses.

Chosen once per app and kept in ``app.extensions`` (built on first use, not
at import or start-up):

- ``rate_cache``: :func:`wallet.rates.cache.make_rate_cache` (Redis when
  configured, else the ``rate_cache`` table the Dagster rates asset fills).
- ``quote_calculator``: ``QuoteRequest -> QuoteCalculation``. By default
  :func:`wallet.quotes.quote_from_sources` over that cache, the venues'
  order books (read per quote over HTTP) and the SQL pause store. Tests
  inject :func:`wallet.quotes.make_quote` with fixed inputs here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import current_app

from wallet.db.base import utcnow
from wallet.money import Rounding, scale_ratio
from wallet.quotes import QuoteCalculation, QuoteConfig, QuoteRequest, quote_from_sources
from wallet.rates.cache import fresh_rate
from wallet.rates.errors import StaleRate
from wallet.rates.routes import Books
from webapp.extensions import rate_cache, session_factory, settings

QuoteCalculator = Callable[[QuoteRequest], QuoteCalculation]


def quote_config() -> QuoteConfig:
    config: QuoteConfig | None = current_app.extensions.get("quote_config")
    if config is None:
        config = QuoteConfig.from_settings(settings())
        current_app.extensions["quote_config"] = config
    return config


def _live_books() -> Books:
    from wallet.rates.clients import build_rate_clients

    s = settings()
    clients = build_rate_clients(s.exchange_url, s.inr_exchange_url)
    try:
        return clients.books()
    finally:
        clients.close()


def _live_calculator(request: QuoteRequest) -> QuoteCalculation:
    from wallet.rates.breakers import SqlPauseStore

    return quote_from_sources(
        request,
        cache=rate_cache(),
        books=_live_books,
        pauses=SqlPauseStore(session_factory()),
        config=quote_config(),
        now=utcnow(),
    )


def quote_calculator() -> QuoteCalculator:
    custom: QuoteCalculator | None = current_app.extensions.get("quote_calculator")
    return custom if custom is not None else _live_calculator


def indicative_minor(asset: str, inr_paise: int, now: datetime | None = None) -> int | None:
    """Roughly how much ``asset`` pays ``inr_paise`` at the cached rate, before fees.

    For the asset picker only (shown with "≈"); the quote is the price.
    None when no fresh rate exists.
    """
    try:
        rate = fresh_rate(
            rate_cache(), asset, now or utcnow(), quote_config().rates.rate_max_age_seconds
        )
    except StaleRate:
        return None
    if rate.rate <= 0:
        return None
    return scale_ratio(inr_paise, 1 / rate.rate, Rounding.UP)
