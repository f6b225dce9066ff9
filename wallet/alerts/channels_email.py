"""Alerts by email through an SMTP relay, when one is configured.

Plain ``smtplib``: optional STARTTLS and login, one message per
notification to every recipient, a subject that sorts well in an inbox
(``[TaskForce FIRED critical] float_low:razorpayx``). Delivery failures
are logged, never raised: an alert must not break the sensor that sent it.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pydantic import SecretStr

from wallet.alerts.core import Alert

log = logging.getLogger("wallet.alerts")


def email_message(alert: Alert, event: str, sender: str, to: Sequence[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[TaskForce {event.upper()} {alert.severity}] {alert.key}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    body = [alert.message, "", f"kind: {alert.kind}", f"incident: {alert.key}", f"event: {event}"]
    if alert.data:
        body += ["", json.dumps(alert.data, indent=2, default=str, ensure_ascii=False)]
    msg.set_content("\n".join(body))
    return msg


class EmailChannel:
    """Sends each notification as one email through ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        to: Sequence[str],
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        if not to:
            raise ValueError("an email channel needs at least one recipient")
        self._host, self._port = host, port
        self._sender, self._to = sender, list(to)
        self._username, self._password = username, password
        self._starttls = starttls
        self._timeout = timeout_s

    def __repr__(self) -> str:
        return f"EmailChannel({self._host}:{self._port} -> {len(self._to)} recipient(s))"

    def notify(self, alert: Alert, event: str) -> None:
        message = email_message(alert, event, self._sender, self._to)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username and self._password is not None:
                    smtp.login(self._username, self._password.get_secret_value())
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("email alert delivery failed: %s", type(exc).__name__)
