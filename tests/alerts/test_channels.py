"""Alert channels deliver over real protocols to loopback servers."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.alerts.receivers import http_receiver, smtp_sink
from tests.observability.support import settings_for
from wallet.alerts.channels_email import EmailChannel
from wallet.alerts.channels_slack import SlackChannel
from wallet.alerts.channels_webhook import WebhookChannel, channels_from_settings
from wallet.alerts.core import Alert, LogChannel, Severity
from wallet.alerts.monitor import Check, Monitor

ALERT = Alert(
    "float_low",
    "float_low:razorpayx",
    Severity.CRITICAL,
    "the INR float is low",
    {"balance_paise": 100, "min_paise": 5_000_000},
)


def test_generic_webhook_is_signed_json() -> None:
    with http_receiver() as (url, got):
        WebhookChannel(url, secret="hook-secret").notify(ALERT, "fired")
    ((headers, body),) = got.requests
    doc = json.loads(body)
    assert doc["event"] == "fired" and doc["key"] == "float_low:razorpayx"
    expected = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    assert headers["X-TaskForce-Signature"] == expected


def test_slack_compatible_payload() -> None:
    with http_receiver() as (url, got):
        channel = SlackChannel(SecretStr(url))
        channel.notify(ALERT, "fired")
        channel.notify(ALERT, "resolved")
        assert url not in repr(channel)
    fired, resolved = (json.loads(body) for _, body in got.requests)
    assert fired["text"].startswith(":rotating_light: [FIRED] float_low")
    assert fired["attachments"][0]["color"] == "danger"
    assert {"title": "incident", "value": "float_low:razorpayx", "short": True} in fired[
        "attachments"
    ][0]["fields"]
    assert resolved["attachments"][0]["color"] == "good"


def test_slack_refusal_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with http_receiver() as (url, got):
        got.status = 500
        with caplog.at_level(logging.WARNING, logger="wallet.alerts"):
            SlackChannel(url).notify(ALERT, "fired")
    assert "HTTP 500" in caplog.text


def test_email_through_smtp() -> None:
    with smtp_sink() as (port, inbox):
        channel = EmailChannel("127.0.0.1", port, "alerts@taskforce.test", ["ops@taskforce.test"])
        channel.notify(ALERT, "fired")
    (message,) = inbox
    assert message["Subject"] == "[TaskForce FIRED critical] float_low:razorpayx"
    assert message["To"] == "ops@taskforce.test"
    body = message.get_content()
    assert "the INR float is low" in body and '"min_paise": 5000000' in body


def test_email_to_a_dead_relay_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wallet.alerts"):
        EmailChannel("127.0.0.1", 9, "a@t.test", ["b@t.test"], timeout_s=1).notify(ALERT, "fired")
    assert "email alert delivery failed" in caplog.text


def test_channels_from_settings_and_one_grouped_message_per_kind(tmp_path: Path) -> None:
    with (
        http_receiver() as (hook_url, hooks),
        http_receiver() as (slack_url, slack),
        smtp_sink() as (port, inbox),
    ):
        settings = settings_for(
            tmp_path,
            "sqlite://",
            alert_webhook_url=hook_url,
            alert_slack_webhook_url=slack_url,
            alert_smtp_host="127.0.0.1",
            alert_smtp_port=port,
            alert_smtp_to="ops@taskforce.test,cfo@taskforce.test",
        )
        channels = channels_from_settings(settings)
        assert [type(c) for c in channels] == [
            LogChannel, WebhookChannel, SlackChannel, EmailChannel
        ]  # fmt: skip
        stale = [
            Alert("rate_stale", f"rate_stale:{a}", Severity.CRITICAL, f"{a} stale")
            for a in ("BTC", "ETH", "SOL")
        ]
        Monitor.in_memory(channels).evaluate(Check("rate_stale", tuple(stale)))
    assert len(hooks.requests) == len(slack.requests) == len(inbox) == 1
    doc = json.loads(hooks.requests[0][1])
    assert doc["key"] == "rate_stale:group"
    assert [i["key"] for i in doc["data"]["incidents"]] == [a.key for a in stale]
    assert inbox[0]["To"] == "ops@taskforce.test, cfo@taskforce.test"
