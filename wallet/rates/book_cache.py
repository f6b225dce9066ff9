"""Where the venues' order books live between refreshes, and their freshness gate.

A quote sizes its route over real depth, but fetching every book of every
venue takes half a second of HTTP; so books are fetched in the background
(:func:`refresh_books`, run by the ``order_books`` Dagster sensor every
10 s) and stored as one *snapshot*: every USDT/INR book of every venue,
exact ``Fraction`` prices and quantities, each book's fetch time.

Stores, chosen like the rates cache (:func:`make_book_cache`):
- :class:`RedisBookStore` when ``REDIS_URL`` is set;
- :class:`DatabaseBookStore` over the ``rate_cache`` table, the embedded
  default that the web workers and the Dagster code location share;
- :class:`MemoryBookStore` for one process (tests, scripts).

:func:`fresh_books` is how a quote reads books: a snapshot whose oldest
book is older than ``book_max_age_seconds`` raises :class:`StaleBooks`
(code ``rate_stale``, as a stale rate: no quote from old prices). The store
TTL outlives that limit, so old books are reported stale, not missing.

Memory is bounded: each store holds one snapshot (a refresh overwrites it),
at most ``book_depth_levels`` levels per side of each book, and the books
are the registry's USDT/INR markets on the configured venues. Each process
keeps one decoded snapshot and decodes again only when the store's version
changes, so a quote costs one small read (the version), not a parse.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from wallet.db.base import utcnow
from wallet.rates.books import Level, Market, OrderBook
from wallet.rates.config import RatesConfig
from wallet.rates.errors import StaleBooks
from wallet.rates.models import RateCacheEntry
from wallet.rates.routes import BookKey, Books, book_key
from wallet.rates.venues import SpotVenueClient, fetch_books

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class BookSnapshot:
    """Every order book of one refresh."""

    version: str  # unique per refresh: what a process compares to reuse its decoded copy
    fetched_at: datetime  # the oldest book's fetch time: the snapshot's age runs from here
    books: Mapping[BookKey, OrderBook]


def _levels_out(levels: tuple[Level, ...]) -> list[list[int]]:
    return [
        [lv.price.numerator, lv.price.denominator, lv.qty.numerator, lv.qty.denominator]
        for lv in levels
    ]


def _levels_in(rows: list[list[int]]) -> tuple[Level, ...]:
    return tuple(Level(Fraction(pn, pd), Fraction(qn, qd)) for pn, pd, qn, qd in rows)


def encode_snapshot(snapshot: BookSnapshot) -> str:
    """JSON with exact integer numerators and denominators (no decimal or float on the way)."""
    return json.dumps(
        {
            "version": snapshot.version,
            "fetched_at": snapshot.fetched_at.isoformat(),
            "books": [
                {
                    "venue": b.market.venue,
                    "symbol": b.market.symbol,
                    "base": b.market.base,
                    "quote": b.market.quote,
                    "fetched_at": b.fetched_at.isoformat(),
                    "bids": _levels_out(b.bids),
                    "asks": _levels_out(b.asks),
                }
                for b in snapshot.books.values()
            ],
        },
        separators=(",", ":"),
    )


def decode_snapshot(text: str | bytes) -> BookSnapshot:
    doc = json.loads(text)
    books: dict[BookKey, OrderBook] = {}
    for row in doc["books"]:
        market = Market(row["venue"], row["symbol"], row["base"], row["quote"])
        books[book_key(market)] = OrderBook(
            market,
            _levels_in(row["bids"]),
            _levels_in(row["asks"]),
            datetime.fromisoformat(row["fetched_at"]),
        )
    return BookSnapshot(doc["version"], datetime.fromisoformat(doc["fetched_at"]), books)


class BookStore(Protocol):
    """One encoded snapshot and its version, replaced together."""

    def put(self, version: str, document: str) -> None: ...

    def version(self) -> str | None: ...

    def document(self) -> str | None: ...


class MemoryBookStore:
    """This process only, with a TTL on an injected clock."""

    def __init__(self, ttl_seconds: int = 120, clock: Clock = utcnow) -> None:
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock
        self._entry: tuple[datetime, str, str] | None = None

    def put(self, version: str, document: str) -> None:
        self._entry = (self._clock() + self._ttl, version, document)

    def _live(self) -> tuple[datetime, str, str] | None:
        entry = self._entry
        return entry if entry is not None and entry[0] > self._clock() else None

    def version(self) -> str | None:
        entry = self._live()
        return None if entry is None else entry[1]

    def document(self) -> str | None:
        entry = self._live()
        return None if entry is None else entry[2]


class RedisBookStore:
    """Two keys under the rates namespace, written in one MULTI with the same TTL."""

    def __init__(self, client: Any, *, prefix: str, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._version_key = f"{prefix}:books:version"
        self._document_key = f"{prefix}:books:snapshot"

    @classmethod
    def from_url(cls, url: str, *, prefix: str, ttl_seconds: int) -> RedisBookStore:
        import redis

        return cls(redis.Redis.from_url(url), prefix=prefix, ttl_seconds=ttl_seconds)

    def put(self, version: str, document: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._document_key, document, ex=self._ttl)
        pipe.set(self._version_key, version, ex=self._ttl)
        pipe.execute()

    def version(self) -> str | None:
        raw = self._redis.get(self._version_key)
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    def document(self) -> str | None:
        raw = self._redis.get(self._document_key)
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)


class DatabaseBookStore:
    """Two rows of the ``rate_cache`` table, written in one transaction."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        prefix: str,
        ttl_seconds: int,
        clock: Clock = utcnow,
    ) -> None:
        self._factory = session_factory
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock
        self._version_key = f"{prefix}:books:version"
        self._document_key = f"{prefix}:books:snapshot"

    def put(self, version: str, document: str) -> None:
        expires = self._clock() + self._ttl
        with self._factory() as session, session.begin():
            # merge() is an upsert by primary key: a repeated refresh just overwrites.
            session.merge(
                RateCacheEntry(key=self._document_key, value=document, expires_at=expires)
            )
            session.merge(RateCacheEntry(key=self._version_key, value=version, expires_at=expires))

    def _read(self, key: str) -> str | None:
        with self._factory() as session:
            row = session.get(RateCacheEntry, key)
            if row is None or row.expires_at <= self._clock():
                return None
            return row.value

    def version(self) -> str | None:
        return self._read(self._version_key)

    def document(self) -> str | None:
        return self._read(self._document_key)


class BookCache:
    """A store plus this process's decoded copy of its latest snapshot.

    ``recheck_seconds`` > 0 lets a busy process skip even the version read
    for that long after the last one (the web tier uses 1 s): a refresh then
    reaches its quotes up to that much later, and the age gate still runs on
    the snapshot's own fetch time, so a quote never prices from older books.
    """

    def __init__(
        self,
        store: BookStore,
        *,
        recheck_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._recheck = recheck_seconds
        self._monotonic = monotonic
        # (snapshot, when its version was last confirmed): replaced whole, never mutated.
        self._decoded: tuple[BookSnapshot, float] | None = None
        self._lock = threading.Lock()  # one decode at a time

    def put(self, snapshot: BookSnapshot) -> None:
        self.store.put(snapshot.version, encode_snapshot(snapshot))
        self._decoded = (snapshot, self._monotonic())

    def latest(self) -> BookSnapshot | None:
        """The stored snapshot, decoded at most once per version in this process."""
        memo = self._decoded
        if memo is not None and self._monotonic() - memo[1] < self._recheck:
            return memo[0]
        version = self.store.version()
        if version is None:
            return None
        if memo is not None and memo[0].version == version:
            self._decoded = (memo[0], self._monotonic())
            return memo[0]
        with self._lock:
            memo = self._decoded
            if memo is not None and memo[0].version == version:
                return memo[0]
            text = self.store.document()
            if text is None:
                return None
            decoded = decode_snapshot(text)
            # Replaces the previous copy: one decoded snapshot per process.
            self._decoded = (decoded, self._monotonic())
            return decoded


def fresh_books(cache: BookCache, now: datetime, max_age_seconds: int) -> Books:
    """The cached books if the snapshot is fresh; :class:`StaleBooks` otherwise."""
    snapshot = cache.latest()
    if snapshot is None:
        raise StaleBooks("no current order books; quotes are paused until the books refresh")
    age = now - snapshot.fetched_at
    if age > timedelta(seconds=max_age_seconds):
        raise StaleBooks(
            f"the order books are {int(age.total_seconds())} s old "
            f"(limit {max_age_seconds} s); quotes are paused until the books refresh"
        )
    return snapshot.books


def _trim(book: OrderBook, levels: int) -> OrderBook:
    if len(book.bids) <= levels and len(book.asks) <= levels:
        return book
    return replace(book, bids=book.bids[:levels], asks=book.asks[:levels])


def refresh_books(
    venues: Mapping[str, SpotVenueClient],
    cache: BookCache,
    *,
    config: RatesConfig | None = None,
    clock: Clock = utcnow,
) -> BookSnapshot | None:
    """Fetch every USDT/INR book of every venue and store them as the current snapshot.

    A venue that fails is left out, exactly as a per-quote fetch would leave
    it out. When no venue answers nothing is stored: the previous snapshot
    ages until quotes are refused as stale (``None`` is returned).
    """
    config = config or RatesConfig()
    books = fetch_books(venues, clock=clock, limit=config.book_depth_levels)
    if not books:
        return None
    kept = {key: _trim(book, config.book_depth_levels) for key, book in books.items()}
    snapshot = BookSnapshot(
        version=uuid.uuid4().hex,
        fetched_at=min(book.fetched_at for book in kept.values()),
        books=kept,
    )
    cache.put(snapshot)
    return snapshot


def make_book_cache(
    config: RatesConfig,
    session_factory: sessionmaker[Session] | None = None,
    *,
    recheck_seconds: float = 0.0,
) -> BookCache:
    """Redis when configured; else the database table; else this process's memory."""
    store: BookStore
    if config.redis_url:
        store = RedisBookStore.from_url(
            config.redis_url,
            prefix=config.rate_cache_prefix,
            ttl_seconds=config.book_cache_ttl_seconds,
        )
    elif session_factory is not None:
        store = DatabaseBookStore(
            session_factory,
            prefix=config.rate_cache_prefix,
            ttl_seconds=config.book_cache_ttl_seconds,
        )
    else:
        store = MemoryBookStore(config.book_cache_ttl_seconds)
    return BookCache(store, recheck_seconds=recheck_seconds)
