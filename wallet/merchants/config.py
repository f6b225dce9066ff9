"""Knobs of the merchant features, with defaults that serve out of the box.

:meth:`MerchantConfig.from_settings` reads ``settings.merchant_<field>``
when the attribute exists and is not ``None`` (Settings fields can be added
one at a time), like :class:`wallet.risk.config.RiskConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

SETTINGS_PREFIX = "merchant_"


@dataclass(frozen=True)
class MerchantConfig:
    """Times in seconds, amounts in paise."""

    # A new payout VPA receives payouts only after this long: a stolen
    # session cannot redirect today's takings.
    vpa_cooling_off_seconds: int = 24 * 3600
    link_default_ttl_seconds: int = 15 * 60
    link_max_ttl_seconds: int = 7 * 24 * 3600
    link_max_paise: int = 10_000_000  # ₹1,00,000, the per-payment cap
    webhook_max_attempts: int = 8
    webhook_backoff_base_seconds: int = 30
    webhook_backoff_cap_seconds: int = 6 * 3600
    webhook_timeout_seconds: float = 5.0
    webhook_lease_seconds: int = 60  # a claimed delivery is retried after this if the worker died
    webhook_tolerance_seconds: int = 300  # receivers refuse older signatures

    @classmethod
    def from_settings(cls, settings: Any) -> MerchantConfig:
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(settings, SETTINGS_PREFIX + f.name, None)
            if value is not None:
                values[f.name] = value
        return cls(**values)
