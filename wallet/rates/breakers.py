"""Circuit breakers: pause new quotes for an asset while its market is unsafe.

An asset trips when, over the last ``breaker_window_seconds`` (5 min):
- its median rate moved more than ``breaker_move_bps`` for its class
  (largest over smallest in the window, so a spike and return still counts);
- its books cannot absorb ``breaker_min_depth_paise`` within the slippage
  limit along any route (the book is too thin);
- its chain adapter reports the node lagging.
A pause is persisted (``asset_pauses``) with its reason and alerted
(``asset_paused``). It lifts by itself once every condition has stayed clear
for ``breaker_cooldown_seconds`` after the last trip (``asset_resumed``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import REGISTRY, Chain, get_asset
from wallet.rates.config import RatesConfig
from wallet.rates.errors import AssetPaused, InsufficientLiquidity
from wallet.rates.history import RateWindow, Window
from wallet.rates.models import AssetPause
from wallet.rates.routes import Books, best_route
from wallet.rates.types import BPS, percent

Alert = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Pause:
    asset: str
    reason: str
    paused_at: datetime
    last_tripped_at: datetime
    resumed_at: datetime | None = None


class PauseStore(Protocol):
    def active(self, asset: str) -> Pause | None: ...

    def open(self, asset: str, reason: str, now: datetime) -> Pause: ...

    def trip(self, asset: str, reason: str, now: datetime) -> Pause: ...

    def close(self, asset: str, now: datetime) -> None: ...


class RecentPauses:
    """What quotes read: ``inner``'s pause of an asset, reread at most every ``recheck_seconds``.

    Breakers are evaluated every 30 s, so a second more before a new pause
    stops a busy process's quotes changes nothing that matters, and saves a
    query per quote. "No pause" is remembered too (the common answer). One
    entry per registry asset; opening, tripping and closing go straight to
    ``inner`` and forget what this view remembered.
    """

    def __init__(
        self,
        inner: PauseStore,
        recheck_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self._recheck = recheck_seconds
        self._monotonic = monotonic
        self._seen: dict[str, tuple[Pause | None, float]] = {}

    def active(self, asset: str) -> Pause | None:
        seen = self._seen.get(asset)
        if seen is not None and self._monotonic() - seen[1] < self._recheck:
            return seen[0]
        pause = self.inner.active(asset)
        if asset in REGISTRY:
            self._seen[asset] = (pause, self._monotonic())
        return pause

    def open(self, asset: str, reason: str, now: datetime) -> Pause:
        self._seen.pop(asset, None)
        return self.inner.open(asset, reason, now)

    def trip(self, asset: str, reason: str, now: datetime) -> Pause:
        self._seen.pop(asset, None)
        return self.inner.trip(asset, reason, now)

    def close(self, asset: str, now: datetime) -> None:
        self._seen.pop(asset, None)
        self.inner.close(asset, now)


def ensure_not_paused(pause: Pause | None, asset: str) -> None:
    """Refuse a new quote for a paused asset, saying why."""
    if pause is not None and pause.resumed_at is None:
        raise AssetPaused(f"new {asset} quotes are paused: {pause.reason}")


def price_move(window: Window) -> Fraction | None:
    """Largest over smallest rate in the window, minus one; ``None`` under two points."""
    values = [rate for _, rate in window if rate > 0]
    if len(values) < 2:
        return None
    return max(values) / min(values) - 1


def thin_book_reason(asset: str, books: Books, config: RatesConfig) -> str | None:
    """Why the books cannot carry a payment of the configured depth, if they cannot."""
    try:
        best_route(
            asset,
            config.breaker_min_depth_paise,
            books,
            config.taker_fee_bps,
            config.slippage_limit_bps,
        )
    except InsufficientLiquidity as exc:
        return f"order book too thin ({exc.message})"
    return None


def breaker_reasons(
    asset: str,
    window: Window,
    *,
    thin_reason: str | None,
    chain_lagging: bool,
    config: RatesConfig,
) -> list[str]:
    """Every condition that currently says "do not quote this asset"."""
    reasons: list[str] = []
    asset_class = get_asset(asset).asset_class.value
    limit = config.breaker_move_bps.get(asset_class)
    move = price_move(window)
    if limit is not None and move is not None and move * BPS > limit:
        reasons.append(
            f"price moved {percent(move)}% within {config.breaker_window_seconds} s "
            f"(limit {percent(Fraction(limit, BPS))}%)"
        )
    if thin_reason:
        reasons.append(thin_reason)
    if chain_lagging:
        reasons.append(f"the {get_asset(asset).chain.value} node is lagging")
    return reasons


def evaluate_breaker(
    asset: str,
    now: datetime,
    reasons: list[str],
    *,
    store: PauseStore,
    config: RatesConfig,
    alert: Alert,
) -> Pause | None:
    """Open, extend or lift ``asset``'s pause; the pause in force afterwards, if any."""
    active = store.active(asset)
    if reasons:
        reason = "; ".join(reasons)
        if active is None:
            pause = store.open(asset, reason, now)
            alert("asset_paused", {"asset": asset, "reason": reason, "at": now.isoformat()})
            return pause
        return store.trip(asset, reason, now)
    if active is None:
        return None
    if now - active.last_tripped_at >= timedelta(seconds=config.breaker_cooldown_seconds):
        store.close(asset, now)
        alert("asset_resumed", {"asset": asset, "reason": active.reason, "at": now.isoformat()})
        return None
    return active


def run_breakers(
    assets: Iterable[str],
    now: datetime,
    *,
    history: RateWindow,
    books: Books,
    chain_lagging: Callable[[Chain], bool],
    store: PauseStore,
    config: RatesConfig,
    alert: Alert,
) -> dict[str, Pause | None]:
    """Evaluate every asset's breaker once (the rates asset runs this after a sync)."""
    since = now - timedelta(seconds=config.breaker_window_seconds)
    result: dict[str, Pause | None] = {}
    for asset in assets:
        chain = get_asset(asset).chain
        try:
            lagging = bool(chain_lagging(chain))
        except Exception:  # an adapter that cannot answer is treated as lagging
            lagging = True
        reasons = breaker_reasons(
            asset,
            history.window(asset, since),
            thin_reason=thin_book_reason(asset, books, config),
            chain_lagging=lagging,
            config=config,
        )
        result[asset] = evaluate_breaker(
            asset, now, reasons, store=store, config=config, alert=alert
        )
    return result


class MemoryPauseStore:
    """Pauses in memory (tests, one process)."""

    def __init__(self) -> None:
        self.pauses: list[Pause] = []

    def active(self, asset: str) -> Pause | None:
        return next((p for p in self.pauses if p.asset == asset and p.resumed_at is None), None)

    def open(self, asset: str, reason: str, now: datetime) -> Pause:
        pause = Pause(asset, reason, now, now)
        self.pauses.append(pause)
        return pause

    def trip(self, asset: str, reason: str, now: datetime) -> Pause:
        return self._replace(asset, reason=reason, last_tripped_at=now)

    def close(self, asset: str, now: datetime) -> None:
        self._replace(asset, resumed_at=now)

    def _replace(self, asset: str, **changes: Any) -> Pause:
        current = self.active(asset)
        if current is None:
            raise LookupError(f"{asset} is not paused")
        updated = replace(current, **changes)
        self.pauses[self.pauses.index(current)] = updated
        return updated


class SqlPauseStore:
    """Pauses in ``asset_pauses``; the partial unique index keeps one open pause per asset."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    @staticmethod
    def _to_pause(row: AssetPause) -> Pause:
        return Pause(row.asset, row.reason, row.paused_at, row.last_tripped_at, row.resumed_at)

    @staticmethod
    def _open_row(session: Session, asset: str, *, lock: bool = False) -> AssetPause | None:
        query = select(AssetPause).where(AssetPause.asset == asset, AssetPause.resumed_at.is_(None))
        if lock:
            query = query.with_for_update()
        return session.scalars(query).first()

    def active(self, asset: str) -> Pause | None:
        with self._factory() as session:
            row = self._open_row(session, asset)
            return None if row is None else self._to_pause(row)

    def open(self, asset: str, reason: str, now: datetime) -> Pause:
        try:
            with self._factory() as session, session.begin():
                row = AssetPause(asset=asset, reason=reason, paused_at=now, last_tripped_at=now)
                session.add(row)
            return self._to_pause(row)
        except IntegrityError:
            # Another evaluator opened it first: extend theirs instead.
            return self.trip(asset, reason, now)

    def trip(self, asset: str, reason: str, now: datetime) -> Pause:
        with self._factory() as session, session.begin():
            row = self._open_row(session, asset, lock=True)
            if row is None:
                raise LookupError(f"{asset} is not paused")
            row.reason = reason
            row.last_tripped_at = now
            return self._to_pause(row)

    def close(self, asset: str, now: datetime) -> None:
        with self._factory() as session, session.begin():
            row = self._open_row(session, asset, lock=True)
            if row is not None:
                row.resumed_at = now

    def all_active(self) -> list[Pause]:
        """Every open pause, for the admin panel and the rates asset's metadata."""
        with self._factory() as session:
            rows = session.scalars(select(AssetPause).where(AssetPause.resumed_at.is_(None)))
            return [self._to_pause(r) for r in rows]
