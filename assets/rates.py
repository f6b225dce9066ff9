"""Exchange rates: the median INR price of every asset, the circuit breakers, the order books."""

from collections.abc import Callable
from typing import Any

import dagster as dg
from sqlalchemy.orm import Session, sessionmaker

from pipelines.resources import AlertsResource, RatesResource, WalletDatabase, _settings
from wallet.alerts import Alert, AlertSink, Severity
from wallet.db.base import utcnow
from wallet.rates.book_cache import BookSnapshot
from wallet.rates.config import RatesConfig
from wallet.rates.errors import StaleRate
from wallet.rates.routes import Books
from wallet.rates.types import RatesSnapshot


def sync_rates(
    factory: sessionmaker[Session], alerts: AlertSink, venues: RatesResource
) -> RatesSnapshot:
    """One rates sync plus the breakers (what the sensor and the asset both run)."""
    from wallet.rates.breakers import SqlPauseStore, run_breakers
    from wallet.rates.cache import make_rate_cache
    from wallet.rates.clients import build_rate_clients
    from wallet.rates.history import SqlRateHistory
    from wallet.rates.refresh import refresh_rates

    settings = _settings()
    config = RatesConfig.from_settings(settings)

    def alert(kind: str, payload: dict[str, Any]) -> None:
        subject = payload.get("asset") or payload.get("source") or "all"
        alerts.fire(Alert(kind, f"{kind}:{subject}", Severity.WARNING, kind, payload))

    exchange_url, inr_url, coinbase_url = venues.urls()
    clients = build_rate_clients(
        exchange_url, inr_url, coinbase_url, usd_inr_rate=settings.usd_inr_rate
    )
    try:
        history = SqlRateHistory(factory)
        now = utcnow()
        snapshot = refresh_rates(
            clients.sources, make_rate_cache(config, factory), history, now, alert, config
        )
        run_breakers(
            config.assets,
            now,
            history=history,
            books=_books_for_breakers(factory, config, clients.books),
            chain_lagging=lambda _chain: False,  # TODO(chains): scanner lag per chain
            store=SqlPauseStore(factory),
            config=config,
            alert=alert,
        )
    finally:
        clients.close()
    return snapshot


def _books_for_breakers(
    factory: sessionmaker[Session], config: RatesConfig, fetch: Callable[[], Books]
) -> Books:
    """The books the ``order_books`` sensor cached when fresh (no second fetch); else live."""
    from wallet.rates.book_cache import fresh_books, make_book_cache

    try:
        return fresh_books(make_book_cache(config, factory), utcnow(), config.book_max_age_seconds)
    except StaleRate:
        return fetch()


def sync_books(factory: sessionmaker[Session], venues: RatesResource) -> BookSnapshot | None:
    """Fetch every venue's order books into the book cache quotes read (``None``: no venue)."""
    from wallet.rates.book_cache import make_book_cache, refresh_books
    from wallet.rates.clients import build_rate_clients

    config = RatesConfig.from_settings(_settings())
    exchange_url, inr_url, _coinbase = venues.urls()
    clients = build_rate_clients(exchange_url, inr_url)
    try:
        return refresh_books(clients.venues, make_book_cache(config, factory), config=config)
    finally:
        clients.close()


BOOKS_UNAVAILABLE = "order_books_unavailable"


def refresh_books(
    factory: sessionmaker[Session], venues: RatesResource, alerts: AlertSink
) -> BookSnapshot | None:
    """:func:`sync_books`, alerting while no venue answers (what the sensor and the warm
    worker's loop both run)."""
    snapshot = sync_books(factory, venues)
    if snapshot is None:
        alerts.fire(
            Alert(
                BOOKS_UNAVAILABLE,
                BOOKS_UNAVAILABLE,
                Severity.WARNING,
                "no venue answered for order books; quotes stop when the cached books go stale",
            )
        )
    else:
        alerts.resolve(BOOKS_UNAVAILABLE, "venues answered again")
    return snapshot


def books_metadata(snapshot: BookSnapshot) -> dict[str, Any]:
    return {
        "books": len(snapshot.books),
        "levels": sum(len(b.bids) + len(b.asks) for b in snapshot.books.values()),
        "fetched_at": snapshot.fetched_at.isoformat(),
        "version": snapshot.version,
    }


def rates_metadata(snapshot: RatesSnapshot) -> dict[str, Any]:
    table = "| asset | ₹ per unit | sources |\n|---|---|---|\n" + "".join(
        f"| {r.asset} | {r.display} | {', '.join(r.sources)} |\n"
        for r in sorted(snapshot.rates.values(), key=lambda r: r.asset)
    )
    return {
        "rates": dg.MetadataValue.md(table),
        "missing": ", ".join(snapshot.missing) or "none",
        "exclusions": len(snapshot.exclusions),
        "source_errors": dg.MetadataValue.json(snapshot.source_errors),
    }


@dg.asset(group_name="rates", kinds={"python"})
def exchange_rates(
    db: WalletDatabase, alerts: AlertsResource, rates: RatesResource
) -> dg.MaterializeResult:
    """Median INR rate per asset from every venue, cached for quotes (paise per minor unit).

    The rates sensor materialises this every 30 s inside its own evaluation
    (no run per refresh); a manual materialisation does the same sync.
    """
    snapshot = sync_rates(db.factory(), alerts.sink(db), rates)
    return dg.MaterializeResult(metadata=rates_metadata(snapshot))


@dg.asset(group_name="rates", kinds={"python"})
def order_books(db: WalletDatabase, rates: RatesResource) -> dg.MaterializeResult:
    """Every USDT/INR order book of every venue, cached for sizing quotes' routes.

    The warm worker's order-book loop refreshes the cache every 10 s, with
    the ``order_books_sensor`` as its net (or alone, every 10 s, without
    the worker), neither reporting a materialisation each time (that would
    add 8,640 events a day); materialise this to refresh it by hand.
    """
    snapshot = sync_books(db.factory(), rates)
    if snapshot is None:
        raise dg.Failure("no venue answered; the cached books were left to age")
    return dg.MaterializeResult(metadata=books_metadata(snapshot))


@dg.asset_check(asset=exchange_rates, blocking=True)
def rates_fresh(db: WalletDatabase) -> dg.AssetCheckResult:
    """Every rated asset has a cached rate younger than ``rate_max_age_seconds``."""
    from wallet.rates.cache import make_rate_cache

    config = RatesConfig.from_settings(_settings())
    cache = make_rate_cache(config, db.factory())
    now = utcnow()
    stale = [
        a
        for a in config.assets
        if (r := cache.get_rate(a)) is None
        or (now - r.observed_at).total_seconds() > config.rate_max_age_seconds
    ]
    return dg.AssetCheckResult(passed=not stale, metadata={"stale": ", ".join(stale) or "none"})
