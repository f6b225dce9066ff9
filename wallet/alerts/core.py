"""Alerts, channels and the deduplicating sink (see the package docstring)."""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.alerts.models import AlertIncident, IncidentStatus
from wallet.db.base import utcnow
from wallet.http import tls_context

log = logging.getLogger("wallet.alerts")


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Alert:
    """One firing of an incident. ``data`` must never carry secrets."""

    kind: str
    key: str
    severity: Severity
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self, event: str = "fired") -> dict[str, Any]:
        return {
            "event": event,
            "kind": self.kind,
            "key": self.key,
            "severity": str(self.severity),
            "message": self.message,
            "data": self.data,
        }


class Channel(Protocol):
    """Delivers notifications; must not raise for a delivery failure it can log."""

    def notify(self, alert: Alert, event: str) -> None: ...


class AlertSink(Protocol):
    """What producers call: fire an incident, resolve it when it clears."""

    def fire(self, alert: Alert) -> bool: ...

    def resolve(self, key: str, message: str = "resolved") -> bool: ...


class LogChannel:
    """Every notification as one structured log line (the default channel)."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger

    def notify(self, alert: Alert, event: str) -> None:
        level = logging.INFO if event == "resolved" else _LEVEL[alert.severity]
        self._log.log(level, "alert %s %s", event, json.dumps(alert.as_json(event), default=str))


_LEVEL = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.ERROR,
}


class WebhookChannel:
    """POSTs the alert as JSON; signed with HMAC-SHA256 when a secret is set.

    The signature header is ``X-TaskForce-Signature`` (hex of the raw body),
    the same scheme Razorpay uses, so receivers verify it the same way.
    """

    def __init__(self, url: str, *, secret: str | None = None, timeout_s: float = 5.0) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout_s

    def __repr__(self) -> str:
        return f"WebhookChannel({self._url!r})"

    def notify(self, alert: Alert, event: str) -> None:
        body = json.dumps(alert.as_json(event), default=str, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self._secret:
            digest = hmac.new(self._secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-TaskForce-Signature"] = digest
        try:
            httpx.post(
                self._url,
                content=body,
                headers=headers,
                timeout=self._timeout,
                trust_env=False,
                verify=tls_context(),
            )
        except httpx.HTTPError as exc:  # an alert channel outage must not break the caller
            log.warning("alert webhook delivery failed: %s", type(exc).__name__)


class IncidentStore(Protocol):
    def open(self, alert: Alert, now: datetime) -> bool:
        """Record a firing; True if it opened (or re-opened) the incident."""
        ...

    def close(self, key: str, now: datetime) -> Alert | None:
        """Resolve an open incident; the alert it was opened with, or None."""
        ...


class MemoryIncidents:
    """Incidents in this process (tests, one-off scripts)."""

    def __init__(self) -> None:
        self.open_alerts: dict[str, Alert] = {}
        self.counts: dict[str, int] = {}

    def open(self, alert: Alert, now: datetime) -> bool:
        self.counts[alert.key] = self.counts.get(alert.key, 0) + 1
        if alert.key in self.open_alerts:
            return False
        self.open_alerts[alert.key] = alert
        return True

    def close(self, key: str, now: datetime) -> Alert | None:
        return self.open_alerts.pop(key, None)


class SqlIncidents:
    """Incidents in ``alert_incidents``: one row per key, shared by every process."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def open(self, alert: Alert, now: datetime) -> bool:
        for _ in range(2):
            try:
                with self._factory() as session, session.begin():
                    return self._open(session, alert, now)
            except IntegrityError:
                continue  # a concurrent first firing inserted the row; update it instead
        return False

    @staticmethod
    def _open(session: Session, alert: Alert, now: datetime) -> bool:
        row = session.scalars(
            select(AlertIncident).where(AlertIncident.key == alert.key).with_for_update()
        ).one_or_none()
        if row is None:
            session.add(
                AlertIncident(
                    key=alert.key,
                    kind=alert.kind,
                    severity=str(alert.severity),
                    message=alert.message,
                    data=alert.data,
                    first_at=now,
                    last_at=now,
                )
            )
            session.flush()
            return True
        row.count += 1
        row.last_at = now
        row.message = alert.message
        row.data = alert.data
        if row.status is IncidentStatus.RESOLVED:
            row.status = IncidentStatus.OPEN
            row.severity = str(alert.severity)
            row.first_at = now
            row.resolved_at = None
            return True
        return False

    def close(self, key: str, now: datetime) -> Alert | None:
        with self._factory() as session, session.begin():
            row = session.scalars(
                select(AlertIncident).where(AlertIncident.key == key).with_for_update()
            ).one_or_none()
            if row is None or row.status is IncidentStatus.RESOLVED:
                return None
            row.status = IncidentStatus.RESOLVED
            row.resolved_at = now
            return Alert(row.kind, row.key, Severity(row.severity), row.message, dict(row.data))

    def open_incidents(self) -> list[AlertIncident]:
        with self._factory() as session:
            return list(
                session.scalars(
                    select(AlertIncident).where(AlertIncident.status == IncidentStatus.OPEN)
                )
            )


class Alerter:
    """The sink producers use: dedupe per key, then notify every channel."""

    def __init__(self, store: IncidentStore, channels: Sequence[Channel] | None = None) -> None:
        self._store = store
        self._channels = list(channels) if channels is not None else [LogChannel()]

    def fire(self, alert: Alert) -> bool:
        """Notify if this opens the incident; a repeat while open is counted, not sent."""
        if not self._store.open(alert, utcnow()):
            return False
        for channel in self._channels:
            channel.notify(alert, "fired")
        return True

    def resolve(self, key: str, message: str = "resolved") -> bool:
        """Close the incident and say so once; resolving a closed one is a no-op."""
        alert = self._store.close(key, utcnow())
        if alert is None:
            return False
        for channel in self._channels:
            channel.notify(Alert(alert.kind, key, alert.severity, message, alert.data), "resolved")
        return True
