"""Settlement knobs (read from ``Settings`` when it has them)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class SettlementConfig:
    """Counts, seconds and paise."""

    max_payout_attempts: int = 3  # then the payment is held for review
    payout_wait_seconds: float = 10.0  # how long one run polls a payout before leaving it
    payout_poll_interval_seconds: float = 0.3
    sell_window_seconds: int = 60  # at most one new sell batch per asset per window
    sell_lease_seconds: float = 120.0  # a crashed seller's batch is resumable after this
    float_min_paise: int = 5_000_000  # ₹50,000: below it payouts queue and we alert
    payment_sla_seconds: int = 900  # a funded payment must reach an outcome within this
    # ...but once the vendor is paid, only the sale waits: dust below a venue's minimum
    # waits for volume, and an unsold payment is flagged after a day.
    unsold_sla_seconds: int = 86_400

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> SettlementConfig:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            value = getattr(settings, f"settlement_{f.name}", None)
            if value is None:
                value = getattr(settings, f.name, None)
            if value is not None:
                values[f.name] = value
        return cls(**values)
