"""Admin knobs: ``settings.admin_<field>`` overrides each default when present."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

SETTINGS_PREFIX = "admin_"


@dataclass(frozen=True)
class AdminConfig:
    # Money-moving review actions on payments above this need a second admin.
    two_admin_threshold_paise: int = 1_000_000  # ₹10,000
    venues: tuple[str, ...] = ("binance", "inr", "coinbase")

    @classmethod
    def from_settings(cls, settings: Any) -> AdminConfig:
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(settings, SETTINGS_PREFIX + f.name, None)
            if value is not None:
                values[f.name] = tuple(value) if f.name == "venues" else value
        return cls(**values)
