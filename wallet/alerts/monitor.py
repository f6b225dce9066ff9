"""Incidents from conditions: fire once, group, hold a quiet period, resolve.

The settlement work's :mod:`wallet.alerts.core` gives the building blocks
(an :class:`~wallet.alerts.core.Alert`, an incident store that dedupes per
key, channels). This module adds what turns periodic *condition checks*
into incidents without anyone calling ``resolve`` by hand:

- **Check**: one evaluation of one condition — every incident of ``kind``
  that is firing *now*. An open incident of that kind missing from the
  check has cleared.
- **Dedupe**: an incident notifies when it opens; while open, a repeat only
  bumps its count (the store's job).
- **Quiet period**: a cleared incident resolves only after it has stayed
  clear for ``quiet_seconds`` since it last fired, so a flapping condition
  yields one "fired" and one "resolved", not a storm.
- **Grouping**: the notifications of one :meth:`Monitor.evaluate` call are
  batched per kind and event: five assets going stale send one message
  listing five incidents.
- **Resolve notifications**: a resolve is announced once on every channel.

Sensors (Dagster) and tests use the same :class:`Monitor`; the database
store makes every process share one view of what is open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from wallet.alerts.core import (
    Alert,
    Channel,
    IncidentStore,
    LogChannel,
    MemoryIncidents,
    Severity,
    SqlIncidents,
)
from wallet.alerts.models import AlertIncident, IncidentStatus
from wallet.db.base import utcnow

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Check:
    """Every incident of ``kind`` firing now (an empty tuple: all clear)."""

    kind: str
    firing: tuple[Alert, ...] = ()

    def __post_init__(self) -> None:
        for alert in self.firing:
            if alert.kind != self.kind:
                raise ValueError(f"alert {alert.key!r} is {alert.kind!r}, not {self.kind!r}")


@dataclass
class Outcome:
    """What one evaluation did (keys), for logs and tests."""

    opened: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # clear, but inside the quiet period
    resolved: list[str] = field(default_factory=list)
    notifications: int = 0


class IncidentView(Protocol):
    def open_incidents(self, kind: str) -> dict[str, datetime]:
        """Open incidents of ``kind``: key → when it last fired."""
        ...


class SqlIncidentView:
    """Open incidents from ``alert_incidents`` (what :class:`SqlIncidents` writes)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def open_incidents(self, kind: str) -> dict[str, datetime]:
        with self._factory() as session:
            rows = session.execute(
                select(AlertIncident.key, AlertIncident.last_at).where(
                    AlertIncident.kind == kind, AlertIncident.status == IncidentStatus.OPEN
                )
            )
            return {key: last_at for key, last_at in rows}


class TimedMemoryIncidents(MemoryIncidents):
    """:class:`MemoryIncidents` that also remembers when each incident last fired."""

    def __init__(self) -> None:
        super().__init__()
        self.last_at: dict[str, datetime] = {}

    def open(self, alert: Alert, now: datetime) -> bool:
        self.last_at[alert.key] = now
        return super().open(alert, now)

    def open_incidents(self, kind: str) -> dict[str, datetime]:
        return {k: self.last_at[k] for k, a in self.open_alerts.items() if a.kind == kind}


class Monitor:
    """Turns :class:`Check` results into incidents and notifications."""

    def __init__(
        self,
        store: IncidentStore,
        view: IncidentView,
        channels: Sequence[Channel] | None = None,
        *,
        quiet_seconds: int = 300,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._view = view
        self._channels = list(channels) if channels is not None else [LogChannel()]
        self._quiet = timedelta(seconds=quiet_seconds)
        self._clock = clock

    @classmethod
    def in_database(
        cls,
        factory: sessionmaker[Session],
        channels: Sequence[Channel] | None = None,
        *,
        quiet_seconds: int = 300,
        clock: Callable[[], datetime] = utcnow,
    ) -> Monitor:
        """The shared, cross-process monitor over ``alert_incidents``."""
        return cls(
            SqlIncidents(factory),
            SqlIncidentView(factory),
            channels,
            quiet_seconds=quiet_seconds,
            clock=clock,
        )

    @classmethod
    def in_memory(
        cls,
        channels: Sequence[Channel] | None = None,
        *,
        quiet_seconds: int = 300,
        clock: Callable[[], datetime] = utcnow,
    ) -> Monitor:
        """One process's monitor (tests, scripts)."""
        store = TimedMemoryIncidents()
        return cls(store, store, channels, quiet_seconds=quiet_seconds, clock=clock)

    def evaluate(self, *checks: Check | None) -> Outcome:
        """Apply the checks; notify (grouped) what opened and what resolved.

        A ``None`` check (the facts could not be read) changes nothing.
        """
        now = self._clock()
        outcome = Outcome()
        fired: list[Alert] = []
        resolved: list[Alert] = []
        for check in checks:
            if check is None:
                continue
            firing_keys = set()
            for alert in check.firing:
                firing_keys.add(alert.key)
                if self._store.open(alert, now):
                    outcome.opened.append(alert.key)
                    fired.append(alert)
                else:
                    outcome.repeated.append(alert.key)
            for key, last_at in self._view.open_incidents(check.kind).items():
                if key in firing_keys:
                    continue
                if now - last_at < self._quiet:
                    outcome.held.append(key)
                    continue
                closed = self._store.close(key, now)
                if closed is not None:
                    outcome.resolved.append(key)
                    resolved.append(closed)
        outcome.notifications += self._send(fired, "fired")
        outcome.notifications += self._send(resolved, "resolved")
        return outcome

    def _send(self, alerts: Iterable[Alert], event: str) -> int:
        by_kind: dict[str, list[Alert]] = {}
        for alert in alerts:
            by_kind.setdefault(alert.kind, []).append(alert)
        sent = 0
        for group in by_kind.values():
            message = group[0] if len(group) == 1 else grouped(group, event)
            if event == "resolved" and len(group) == 1:
                message = Alert(
                    message.kind, message.key, message.severity, f"resolved: {message.message}",
                    message.data,
                )  # fmt: skip
            for channel in self._channels:
                channel.notify(message, event)
            sent += 1
        return sent


def grouped(alerts: Sequence[Alert], event: str) -> Alert:
    """One notification for several incidents of one kind (keys listed in ``data``)."""
    kind = alerts[0].kind
    severity = max((a.severity for a in alerts), key=lambda s: _RANK[s])
    keys = [a.key for a in alerts]
    return Alert(
        kind,
        f"{kind}:group",
        severity,
        f"{len(alerts)} {kind} incidents {event}: {', '.join(keys)}",
        {"count": len(alerts), "incidents": [a.as_json(event) for a in alerts]},
    )
