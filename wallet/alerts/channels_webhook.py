"""The generic JSON webhook channel, and every channel built from settings.

The generic webhook itself is :class:`wallet.alerts.core.WebhookChannel`
(JSON body, optional ``X-TaskForce-Signature`` HMAC); this module picks the
channels a deployment has configured. The log channel is always on.
"""

from __future__ import annotations

from typing import Any

from wallet.alerts.channels_email import EmailChannel
from wallet.alerts.channels_slack import SlackChannel
from wallet.alerts.core import Channel, LogChannel, WebhookChannel
from wallet.observability.config import ObservabilityConfig, secret_value

__all__ = ["WebhookChannel", "channels_from_settings"]


def channels_from_settings(settings: Any) -> list[Channel]:
    """Log always; generic webhook, Slack and email when their settings are present."""
    config = ObservabilityConfig.from_settings(settings)
    channels: list[Channel] = [LogChannel()]
    if config.alert_webhook_url:
        channels.append(
            WebhookChannel(
                config.alert_webhook_url, secret=secret_value(config.alert_webhook_secret)
            )
        )
    if config.alert_slack_webhook_url is not None:
        channels.append(SlackChannel(config.alert_slack_webhook_url))
    if config.alert_smtp_host and config.alert_smtp_to:
        channels.append(
            EmailChannel(
                config.alert_smtp_host,
                config.alert_smtp_port,
                config.alert_smtp_from,
                config.alert_smtp_to,
                username=config.alert_smtp_username,
                password=config.alert_smtp_password,
                starttls=config.alert_smtp_starttls,
            )
        )
    return channels
