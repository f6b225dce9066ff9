"""Knobs of logging, Sentry, readiness, metrics and alert delivery.

:meth:`ObservabilityConfig.from_settings` reads each field from ``Settings``
when it has it and keeps the default here otherwise, so the fields can be
added to ``wallet/config.py`` one at a time. Times are seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic import SecretStr

# Components /readyz checks, in display order. "cache" is skipped when no
# Redis is configured (the embedded default keeps rates in the database).
COMPONENTS = (
    "database",
    "cache",
    "ethereum",
    "solana",
    "bitcoin",
    "dogecoin",
    "exchange",
    "inr_exchange",
    "payout_gateway",
    "dagster",
)


def _default_lag() -> dict[str, int]:
    # Roughly two minutes of blocks: Ethereum 12 s slots, Solana ~0.4 s slots,
    # Bitcoin 10 min blocks (one behind is normal), Dogecoin 1 min blocks.
    return {"ethereum": 10, "solana": 300, "bitcoin": 2, "dogecoin": 3}


@dataclass(frozen=True)
class ObservabilityConfig:
    environment: str = "dev"
    log_level: str = "INFO"
    log_format: str = "json"  # json | text (text only for a developer's terminal)
    sentry_dsn: SecretStr | None = None  # empty: Sentry is off
    sentry_release: str | None = None  # default: taskforce-wallet@<package version>
    sentry_traces_sample_rate: float = 0.0  # a sampling ratio, never money
    dagster_graphql_url: str | None = None  # http://host:3000/graphql; unset: "unknown"
    dagster_heartbeat_max_age_seconds: int = 120
    readiness_timeout_seconds: float = 2.0
    readiness_checks: tuple[str, ...] = COMPONENTS
    chain_lag_max_blocks: Mapping[str, int] = field(default_factory=_default_lag)
    chain_head_cache_seconds: float = 10.0
    alert_quiet_seconds: int = 300
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    alert_slack_webhook_url: SecretStr | None = None  # the URL itself is the credential
    alert_smtp_host: str | None = None
    alert_smtp_port: int = 25
    alert_smtp_username: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_smtp_starttls: bool = False
    alert_smtp_from: str = "alerts@taskforce.invalid"
    alert_smtp_to: tuple[str, ...] = ()
    webhook_silence_seconds: int = 900  # a payout final at RazorpayX with no webhook this long
    worker_silence_seconds: int = 120  # a warm worker loop silent this long (worker_silent)
    # A withdrawal held or broadcast this long alerts (withdrawal_stuck): above the deepest
    # confirmation wait (Bitcoin's 6 blocks, Dogecoin's 40) with room for slow blocks.
    withdrawal_stuck_seconds: int = 7200

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> ObservabilityConfig:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            value = getattr(settings, f.name, None)
            if value is None:
                continue
            if f.name in {"readiness_checks", "alert_smtp_to"} and not isinstance(value, tuple):
                items = value.split(",") if isinstance(value, str) else value
                value = tuple(str(v).strip() for v in items if str(v).strip())
            if f.name in {"sentry_dsn", "alert_webhook_secret", "alert_slack_webhook_url",
                          "alert_smtp_password"} and isinstance(value, str):  # fmt: skip
                value = SecretStr(value) if value else None
            values[f.name] = value
        return cls(**values)


def secret_value(value: SecretStr | None) -> str | None:
    """The plain text of an optional secret (at the point of use only)."""
    return value.get_secret_value() if value is not None else None
