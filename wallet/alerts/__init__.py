"""Alerting: raise an incident once, repeat quietly, resolve when it clears.

- :class:`Alert` is what went wrong: ``kind`` (e.g. ``float_low``), ``key``
  (the incident, e.g. ``float_low:INR``), ``severity``, a message and data.
- A :class:`Channel` delivers a notification (a log line, a webhook POST;
  the monitoring issue adds more).
- An :class:`AlertSink` decides *whether* to notify: :class:`Alerter`
  dedupes per incident key (in the database, so sensors, runs and web
  workers share one view) and notifies again only after a resolve.
"""

from wallet.alerts.core import (
    Alert,
    Alerter,
    AlertSink,
    Channel,
    LogChannel,
    MemoryIncidents,
    Severity,
    SqlIncidents,
    WebhookChannel,
)

__all__ = [
    "Alert",
    "AlertSink",
    "Alerter",
    "Channel",
    "LogChannel",
    "MemoryIncidents",
    "Severity",
    "SqlIncidents",
    "WebhookChannel",
]
