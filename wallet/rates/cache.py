"""Where the latest rates live between syncs, and the freshness gate.

Three implementations of one :class:`RateCache` interface:
- :class:`RedisRateCache` when ``REDIS_URL`` is set (namespaced keys, TTL);
- :class:`DatabaseRateCache` over the ``rate_cache`` table, the embedded
  default shared by the web app and the Dagster code location;
- :class:`MemoryRateCache` for one process (tests, scripts).
All store the same JSON document, so a rate reads back exactly.

:func:`fresh_rate` is the only way a quote reads a rate: anything older
than ``rate_max_age_seconds`` raises :class:`StaleRate`. Cache TTLs are
longer than the freshness limit on purpose, so an old rate is reported as
stale (a clear reason) rather than silently missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import REGISTRY
from wallet.db.base import utcnow
from wallet.rates.config import RatesConfig
from wallet.rates.errors import StaleRate
from wallet.rates.models import RateCacheEntry
from wallet.rates.types import AssetRate

SourceKey = tuple[str, str]  # (source, asset)
Clock = Callable[[], datetime]


class RateCache(Protocol):
    """Latest aggregated rate per asset, plus each source's last value (for jumps)."""

    def put_rates(self, rates: Iterable[AssetRate]) -> None: ...

    def get_rate(self, asset: str) -> AssetRate | None: ...

    def put_source_values(self, values: Mapping[SourceKey, Fraction]) -> None: ...

    def get_source_values(self, keys: Iterable[SourceKey]) -> dict[SourceKey, Fraction]: ...


def fresh_rate(cache: RateCache, asset: str, now: datetime, max_age_seconds: int) -> AssetRate:
    """The cached rate of ``asset`` if it is fresh; :class:`StaleRate` otherwise."""
    rate = cache.get_rate(asset)
    if rate is None:
        raise StaleRate(f"no current rate for {asset}; quotes are paused until rates refresh")
    age = now - rate.observed_at
    if age > timedelta(seconds=max_age_seconds):
        raise StaleRate(
            f"the {asset} rate is {int(age.total_seconds())} s old "
            f"(limit {max_age_seconds} s); quotes are paused until rates refresh"
        )
    return rate


def encode_rate(rate: AssetRate) -> str:
    return json.dumps(
        {
            "asset": rate.asset,
            "num": str(rate.rate.numerator),
            "den": str(rate.rate.denominator),
            "observed_at": rate.observed_at.isoformat(),
            "computed_at": rate.computed_at.isoformat(),
            "sources": list(rate.sources),
        },
        separators=(",", ":"),
    )


def decode_rate(text: str | bytes) -> AssetRate:
    doc = json.loads(text)
    return AssetRate(
        asset=doc["asset"],
        rate=Fraction(int(doc["num"]), int(doc["den"])),
        observed_at=datetime.fromisoformat(doc["observed_at"]),
        sources=tuple(doc["sources"]),
        computed_at=datetime.fromisoformat(doc["computed_at"]),
    )


def _encode_value(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def _decode_value(text: str | bytes) -> Fraction:
    raw = text.decode() if isinstance(text, bytes) else text
    num, den = raw.split("/")
    return Fraction(int(num), int(den))


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def rate(self, asset: str) -> str:
        return f"{self.prefix}:rate:{asset}"

    def source(self, key: SourceKey) -> str:
        return f"{self.prefix}:src:{key[0]}:{key[1]}"


class MemoryRateCache:
    """In-process cache with TTL on an injected clock."""

    def __init__(self, ttl_seconds: int = 300, clock: Clock = utcnow) -> None:
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock
        self._data: dict[str, tuple[datetime, str]] = {}
        self._keys = _Keys("mem")

    def _put(self, key: str, value: str) -> None:
        self._data[key] = (self._clock() + self._ttl, value)

    def _get(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put_rates(self, rates: Iterable[AssetRate]) -> None:
        for rate in rates:
            self._put(self._keys.rate(rate.asset), encode_rate(rate))

    def get_rate(self, asset: str) -> AssetRate | None:
        text = self._get(self._keys.rate(asset))
        return None if text is None else decode_rate(text)

    def put_source_values(self, values: Mapping[SourceKey, Fraction]) -> None:
        for key, value in values.items():
            self._put(self._keys.source(key), _encode_value(value))

    def get_source_values(self, keys: Iterable[SourceKey]) -> dict[SourceKey, Fraction]:
        out: dict[SourceKey, Fraction] = {}
        for key in keys:
            text = self._get(self._keys.source(key))
            if text is not None:
                out[key] = _decode_value(text)
        return out


class RedisRateCache:
    """Redis-backed cache: ``SET key value EX ttl`` under a namespace prefix."""

    def __init__(self, client: Any, *, prefix: str, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._keys = _Keys(prefix)

    @classmethod
    def from_url(cls, url: str, *, prefix: str, ttl_seconds: int) -> RedisRateCache:
        import redis

        return cls(redis.Redis.from_url(url), prefix=prefix, ttl_seconds=ttl_seconds)

    def put_rates(self, rates: Iterable[AssetRate]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for rate in rates:
            pipe.set(self._keys.rate(rate.asset), encode_rate(rate), ex=self._ttl)
        pipe.execute()

    def get_rate(self, asset: str) -> AssetRate | None:
        raw = self._redis.get(self._keys.rate(asset))
        return None if raw is None else decode_rate(raw)

    def put_source_values(self, values: Mapping[SourceKey, Fraction]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(self._keys.source(key), _encode_value(value), ex=self._ttl)
        pipe.execute()

    def get_source_values(self, keys: Iterable[SourceKey]) -> dict[SourceKey, Fraction]:
        wanted = list(keys)
        if not wanted:
            return {}
        raws = self._redis.mget([self._keys.source(k) for k in wanted])
        return {k: _decode_value(raw) for k, raw in zip(wanted, raws, strict=True) if raw}


class DatabaseRateCache:
    """The ``rate_cache`` table: the cross-process fallback when Redis is not configured."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        prefix: str = "rates",
        ttl_seconds: int = 300,
        clock: Clock = utcnow,
    ) -> None:
        self._factory = session_factory
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock
        self._keys = _Keys(prefix)

    def _put_many(self, items: Iterable[tuple[str, str]]) -> None:
        expires = self._clock() + self._ttl
        with self._factory() as session, session.begin():
            for key, value in items:
                # merge() is an upsert by primary key: a rerun of the sync is harmless.
                session.merge(RateCacheEntry(key=key, value=value, expires_at=expires))

    def _get_many(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        now = self._clock()
        with self._factory() as session:
            rows = session.scalars(select(RateCacheEntry).where(RateCacheEntry.key.in_(keys)))
            return {r.key: r.value for r in rows if r.expires_at > now}

    def put_rates(self, rates: Iterable[AssetRate]) -> None:
        self._put_many((self._keys.rate(r.asset), encode_rate(r)) for r in rates)

    def get_rate(self, asset: str) -> AssetRate | None:
        text = self._get_many([self._keys.rate(asset)]).get(self._keys.rate(asset))
        return None if text is None else decode_rate(text)

    def put_source_values(self, values: Mapping[SourceKey, Fraction]) -> None:
        self._put_many((self._keys.source(k), _encode_value(v)) for k, v in values.items())

    def get_source_values(self, keys: Iterable[SourceKey]) -> dict[SourceKey, Fraction]:
        wanted = {self._keys.source(k): k for k in keys}
        found = self._get_many(list(wanted))
        return {wanted[name]: _decode_value(text) for name, text in found.items()}


class RecentRates:
    """A view of a rate cache that rereads an asset's rate at most every ``recheck_seconds``.

    For the web tier, where every quote reads one rate: a busy process
    serves the rate it read under a second ago instead of asking the store
    again. A new rate reaches quotes up to ``recheck_seconds`` later (they
    are refreshed every 30 s) and :func:`fresh_rate` still gates on the
    rate's own ``observed_at``. One entry per registry asset, so memory is
    bounded; writes go straight to the store.
    """

    def __init__(
        self,
        inner: RateCache,
        recheck_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self._recheck = recheck_seconds
        self._monotonic = monotonic
        self._seen: dict[str, tuple[AssetRate, float]] = {}

    def put_rates(self, rates: Iterable[AssetRate]) -> None:
        self.inner.put_rates(rates)
        self._seen.clear()

    def get_rate(self, asset: str) -> AssetRate | None:
        seen = self._seen.get(asset)
        if seen is not None and self._monotonic() - seen[1] < self._recheck:
            return seen[0]
        rate = self.inner.get_rate(asset)
        if rate is None:
            self._seen.pop(asset, None)
        elif asset in REGISTRY:
            self._seen[asset] = (rate, self._monotonic())
        return rate

    def put_source_values(self, values: Mapping[SourceKey, Fraction]) -> None:
        self.inner.put_source_values(values)

    def get_source_values(self, keys: Iterable[SourceKey]) -> dict[SourceKey, Fraction]:
        return self.inner.get_source_values(keys)


def make_rate_cache(
    config: RatesConfig, session_factory: sessionmaker[Session] | None = None
) -> RateCache:
    """Redis when configured; else the database table; else this process's memory."""
    if config.redis_url:
        return RedisRateCache.from_url(
            config.redis_url,
            prefix=config.rate_cache_prefix,
            ttl_seconds=config.rate_cache_ttl_seconds,
        )
    if session_factory is not None:
        return DatabaseRateCache(
            session_factory,
            prefix=config.rate_cache_prefix,
            ttl_seconds=config.rate_cache_ttl_seconds,
        )
    return MemoryRateCache(config.rate_cache_ttl_seconds)
