"""Sentry for the web app and Dagster runs: off by default, personal data scrubbed.

:func:`init_sentry` does nothing without a DSN (``SENTRY_DSN``). With one it
tags every event with ``environment``, ``release`` and ``component`` (web,
dagster) and runs :func:`scrub_event` on every event, transaction and
breadcrumb before it leaves the process:

- no default PII (``send_default_pii=False``) and no local variables;
- the user is reduced to an opaque id (no email, name or IP address);
- request headers, cookies, bodies and query strings go through the
  secret :class:`~wallet.observability.redact.Redactor`;
- free text everywhere (messages, exception values, breadcrumbs, extra)
  loses secrets, email addresses, UPI VPAs, IP addresses and phone numbers.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from wallet.observability.config import ObservabilityConfig, secret_value
from wallet.observability.redact import MASK, Redactor, redactor_for

# name@handle covers both email addresses and UPI VPAs (ravi@okaxis).
_EMAIL_OR_VPA = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")
_PHONE = re.compile(r"(?<!\d)(?:\+?91[ -]?)?[6-9]\d{9}(?!\d)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_DROP_REQUEST_KEYS = ("cookies", "data", "env")
_KEEP_USER_KEYS = ("id",)


def default_release() -> str:
    try:
        return f"taskforce-wallet@{metadata.version('taskforce-wallet')}"
    except metadata.PackageNotFoundError:
        return "taskforce-wallet@unknown"


class Scrubber:
    """``before_send`` / ``before_breadcrumb`` hooks bound to one redactor."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def text(self, value: str) -> str:
        value = self.redactor.text(value)
        value = _EMAIL_OR_VPA.sub(MASK, value)
        value = _IPV4.sub(MASK, value)
        return _PHONE.sub(MASK, value)

    def value(self, value: Any, key: str | None = None) -> Any:
        masked = self.redactor.value(value, key)
        if isinstance(masked, str):
            return self.text(masked)
        if isinstance(masked, dict):
            return {k: self.value(v) for k, v in masked.items()}
        if isinstance(masked, list):
            return [self.value(v) for v in masked]
        return masked

    def event(self, event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
        request = event.get("request")
        if isinstance(request, dict):
            for key in _DROP_REQUEST_KEYS:
                if key in request:
                    request[key] = MASK
            if "headers" in request:
                request["headers"] = self.value(request["headers"])
            for key in ("query_string", "url"):
                if isinstance(request.get(key), str):
                    request[key] = self.text(request[key])
        user = event.get("user")
        if isinstance(user, dict):
            event["user"] = {k: str(user[k]) for k in _KEEP_USER_KEYS if k in user}
        for key in ("message", "logentry", "extra", "contexts", "tags"):
            if key in event:
                event[key] = self.value(event[key])
        for exc in (event.get("exception") or {}).get("values") or []:
            if isinstance(exc.get("value"), str):
                exc["value"] = self.text(exc["value"])
            for frame in (exc.get("stacktrace") or {}).get("frames") or []:
                frame.pop("vars", None)
                # Source lines travel with each frame; a literal there is still a secret.
                if isinstance(frame.get("context_line"), str):
                    frame["context_line"] = self.text(frame["context_line"])
                for key in ("pre_context", "post_context"):
                    if isinstance(frame.get(key), list):
                        frame[key] = [self.text(str(line)) for line in frame[key]]
        crumbs = event.get("breadcrumbs")
        if isinstance(crumbs, dict) and isinstance(crumbs.get("values"), list):
            crumbs["values"] = [self.breadcrumb(c) for c in crumbs["values"]]
        return event

    def breadcrumb(self, crumb: dict[str, Any], hint: Any = None) -> dict[str, Any]:
        if isinstance(crumb.get("message"), str):
            crumb["message"] = self.text(crumb["message"])
        if "data" in crumb:
            crumb["data"] = self.value(crumb["data"])
        return crumb


def sentry_options(settings: Any, component: str) -> dict[str, Any] | None:
    """The ``sentry_sdk.init`` keyword arguments, or None when Sentry is off."""
    config = ObservabilityConfig.from_settings(settings)
    dsn = secret_value(config.sentry_dsn)
    if not dsn:
        return None
    scrubber = Scrubber(redactor_for(settings))
    return {
        "dsn": dsn,
        "environment": config.environment,
        "release": config.sentry_release or default_release(),
        "send_default_pii": False,
        "include_local_variables": False,
        "max_request_body_size": "never",
        "traces_sample_rate": config.sentry_traces_sample_rate,
        "before_send": scrubber.event,
        "before_send_transaction": scrubber.event,
        "before_breadcrumb": scrubber.breadcrumb,
        "server_name": component,
    }


def ensure_sentry(settings: Any, component: str = "web") -> bool:
    """Initialise Sentry unless this process already did (app factories)."""
    import sentry_sdk

    if sentry_sdk.get_client().is_active():
        return True
    return init_sentry(settings, component)


def init_sentry(settings: Any, component: str = "web", **extra: Any) -> bool:
    """Start Sentry for this process when a DSN is configured; True if it did.

    ``component`` ("web", "dagster") becomes a tag, so one project holds both.
    ``extra`` goes to ``sentry_sdk.init`` (e.g. ``transport`` in tests).
    """
    options = sentry_options(settings, component)
    if options is None:
        return False
    import sentry_sdk

    sentry_sdk.init(**{**options, **extra})
    sentry_sdk.get_global_scope().set_tag("component", component)
    return True
