"""Where the web tier gets prices: the rates cache, order books and pauses.

Chosen once per app and kept in ``app.extensions`` (built on first use, not
at import or start-up):

- ``rate_cache``: :func:`wallet.rates.cache.make_rate_cache` (Redis when
  configured, else the ``rate_cache`` table the Dagster rates asset fills).
- ``book_cache``: :func:`wallet.rates.book_cache.make_book_cache` (the same
  store choice), which the ``order_books`` Dagster sensor refreshes every
  10 s. Each worker process keeps one decoded snapshot, so a quote reads
  at most the snapshot's version (once a second), never the venues.
- ``quote_rates`` / ``quote_pauses``: :class:`wallet.rates.cache.RecentRates`
  over ``rate_cache`` and :class:`wallet.rates.breakers.RecentPauses` over
  the SQL pause store: an asset's rate and pause are reread at most once a
  second per process.
- ``quote_calculator``: ``QuoteRequest -> QuoteCalculation``. By default
  :func:`wallet.quotes.quote_from_sources` over those (books older than
  ``book_max_age_seconds`` refuse the quote with ``rate_stale``). Tests
  inject :func:`wallet.quotes.make_quote` with fixed inputs here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import current_app

from wallet.db.base import utcnow
from wallet.money import Rounding, scale_ratio
from wallet.quotes import QuoteCalculation, QuoteConfig, QuoteRequest, quote_from_sources
from wallet.rates.book_cache import BookCache, fresh_books, make_book_cache
from wallet.rates.breakers import PauseStore, RecentPauses, SqlPauseStore
from wallet.rates.cache import RateCache, RecentRates, fresh_rate
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


# A worker rereads the shared caches at most this often: under load most quotes then
# read neither store (the age gates still run on the data's own timestamps).
RECHECK_SECONDS = 1.0


def book_cache() -> BookCache:
    """This app's order-book cache (the one the ``order_books`` sensor writes)."""
    cache: BookCache | None = current_app.extensions.get("book_cache")
    if cache is None:
        cache = make_book_cache(
            quote_config().rates, session_factory(), recheck_seconds=RECHECK_SECONDS
        )
        current_app.extensions["book_cache"] = cache
    return cache


def quote_rates() -> RateCache:
    """The rates cache as quotes read it: :func:`rate_cache` behind a one-second view."""
    inner = rate_cache()
    view: RecentRates | None = current_app.extensions.get("quote_rates")
    if view is None or view.inner is not inner:  # rebuilt if the cache was replaced
        view = RecentRates(inner, RECHECK_SECONDS)
        current_app.extensions["quote_rates"] = view
    return view


def quote_pauses() -> PauseStore:
    """The breakers' pauses as quotes read them: reread at most once a second."""
    pauses: PauseStore | None = current_app.extensions.get("quote_pauses")
    if pauses is None:
        pauses = RecentPauses(SqlPauseStore(session_factory()), RECHECK_SECONDS)
        current_app.extensions["quote_pauses"] = pauses
    return pauses


def _live_calculator(request: QuoteRequest) -> QuoteCalculation:
    config = quote_config()
    now = utcnow()

    def cached_books() -> Books:
        return fresh_books(book_cache(), now, config.rates.book_max_age_seconds)

    return quote_from_sources(
        request,
        cache=quote_rates(),
        books=cached_books,
        pauses=quote_pauses(),
        config=config,
        now=now,
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
            quote_rates(), asset, now or utcnow(), quote_config().rates.rate_max_age_seconds
        )
    except StaleRate:
        return None
    if rate.rate <= 0:
        return None
    return scale_ratio(inr_paise, 1 / rate.rate, Rounding.UP)
