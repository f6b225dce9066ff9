"""Limits and thresholds of the risk engine, in paise, counts and seconds.

Built from ``Settings`` with :meth:`RiskConfig.from_settings`: each field
``x`` is read from ``settings.risk_x`` when that attribute exists and is
not ``None`` (so the Settings fields can be added one at a time); the rest
take the defaults below. ``None`` as a limit means "no limit on this
dimension". Windows are fixed calendar windows: the hour in UTC, the day in
India Standard Time (the payer's day).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from wallet.errors import ConfigurationError

SETTINGS_PREFIX = "risk_"


def _tier_daily() -> dict[int, int]:
    # Tier 0 (e-mail only) can try the product; PAN unlocks everyday use;
    # an admin-reviewed full KYC unlocks the largest amounts.
    return {0: 500_000, 1: 5_000_000, 2: 20_000_000}  # ₹5,000 / ₹50,000 / ₹2,00,000


def _tier_per_payment() -> dict[int, int]:
    return {0: 200_000, 1: 2_500_000, 2: 10_000_000}  # ₹2,000 / ₹25,000 / ₹1,00,000


@dataclass(frozen=True)
class RiskConfig:
    """Every limit and threshold the engine applies."""

    # KYC tiers: INR per IST day and per payment, by tier.
    tier_daily_limit_paise: Mapping[int, int] = field(default_factory=_tier_daily)
    tier_per_payment_limit_paise: Mapping[int, int] = field(default_factory=_tier_per_payment)

    # Per user (payments and withdrawals together).
    user_hourly_count: int | None = 20
    user_daily_count: int | None = 100
    user_hourly_paise: int | None = None

    # Per device (a stolen phone with many accounts on it).
    device_hourly_count: int | None = 30
    device_daily_count: int | None = 150
    device_daily_paise: int | None = 30_000_000  # ₹3,00,000

    # Per payee VPA (money mules collect from many payers).
    payee_hourly_count: int | None = 200
    payee_daily_count: int | None = 2_000
    payee_daily_paise: int | None = 50_000_000  # ₹5,00,000

    # The whole platform: caps what the INR float can lose in a bad hour.
    global_hourly_paise: int | None = 500_000_000  # ₹50,00,000
    global_daily_paise: int | None = 5_000_000_000  # ₹5,00,00,000
    global_daily_count: int | None = None

    # Withdrawals of crypto to outside addresses (INR value), per user per day.
    withdrawal_daily_count: int | None = 10
    withdrawal_daily_paise: int | None = 20_000_000  # ₹2,00,000

    # Scoring: at or above hold_score the payment waits for an admin.
    hold_score: int = 50
    structuring_points: int = 60
    rapid_spend_points: int = 50
    fan_in_points: int = 50

    # Structuring: >= min_count payments within band_bps below the
    # threshold, inside the window.
    structuring_threshold_paise: int = 5_000_000  # ₹50,000
    structuring_band_bps: int = 1_000  # the 10 % just below
    structuring_window_seconds: int = 86_400
    structuring_min_count: int = 3

    # Rapid deposit-then-spend: a deposit credited less than window ago and
    # a payment spending at least ratio_bps of it.
    rapid_spend_window_seconds: int = 1_800
    rapid_spend_ratio_bps: int = 8_000

    # Fan-in: a VPA first paid less than new_vpa_seconds ago, paid by at
    # least min_payers distinct users inside the window.
    fan_in_new_vpa_seconds: int = 7 * 86_400
    fan_in_window_seconds: int = 86_400
    fan_in_min_payers: int = 5

    def __post_init__(self) -> None:
        for tier in (0, 1, 2):
            if tier not in self.tier_daily_limit_paise:
                raise ConfigurationError(f"no daily limit configured for KYC tier {tier}")
            if tier not in self.tier_per_payment_limit_paise:
                raise ConfigurationError(f"no per-payment limit configured for KYC tier {tier}")
        if not 0 < self.hold_score <= 100:
            raise ConfigurationError("hold_score must be within 1..100")

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> RiskConfig:
        """Read ``settings.risk_<field>`` for every field present; defaults elsewhere."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            value = getattr(settings, SETTINGS_PREFIX + f.name, None)
            if value is None:
                continue
            if f.name.startswith("tier_"):
                value = {int(k): int(v) for k, v in dict(value).items()}
            values[f.name] = value
        return cls(**values)

    def tier_daily(self, tier: int) -> int:
        """The INR ceiling per IST day of a user at ``tier`` (higher tiers: the top)."""
        return self.tier_daily_limit_paise[min(max(tier, 0), 2)]

    def tier_per_payment(self, tier: int) -> int:
        return self.tier_per_payment_limit_paise[min(max(tier, 0), 2)]
