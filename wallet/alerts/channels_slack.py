"""Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat, Teams' Slack mode).

The payload is Slack's "incoming webhook" shape: a plain ``text`` fallback
plus one attachment coloured by severity with the incident key and data as
fields. The webhook URL is itself the credential, so it is held as a
``SecretStr`` and never printed (``repr`` shows only the host).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from wallet.alerts.core import Alert, Severity
from wallet.http import tls_context

log = logging.getLogger("wallet.alerts")

_COLOUR = {Severity.INFO: "#439FE0", Severity.WARNING: "warning", Severity.CRITICAL: "danger"}
_ICON = {"fired": ":rotating_light:", "resolved": ":white_check_mark:"}


def slack_payload(alert: Alert, event: str) -> dict[str, Any]:
    """The JSON body Slack's incoming webhooks accept."""
    colour = "good" if event == "resolved" else _COLOUR[alert.severity]
    title = f"{_ICON.get(event, '')} [{event.upper()}] {alert.kind} ({alert.severity})".strip()
    fields = [{"title": "incident", "value": alert.key, "short": True}]
    for name, value in list(alert.data.items())[:8]:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        fields.append({"title": str(name), "value": text[:300], "short": len(text) < 40})
    return {
        "text": f"{title}: {alert.message}",
        "attachments": [{"color": colour, "title": title, "text": alert.message, "fields": fields}],
    }


class SlackChannel:
    """POSTs each notification to a Slack-compatible incoming webhook."""

    def __init__(self, url: SecretStr | str, *, timeout_s: float = 5.0) -> None:
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        self._timeout = timeout_s

    def __repr__(self) -> str:
        return f"SlackChannel({urlsplit(self._url.get_secret_value()).hostname!r})"

    def notify(self, alert: Alert, event: str) -> None:
        try:
            response = httpx.post(
                self._url.get_secret_value(),
                json=slack_payload(alert, event),
                timeout=self._timeout,
                trust_env=False,
                verify=tls_context(),
            )
            if response.status_code >= 300:
                log.warning("slack alert delivery refused: HTTP %s", response.status_code)
        except httpx.HTTPError as exc:  # an alert channel outage must not break the caller
            log.warning("slack alert delivery failed: %s", type(exc).__name__)
