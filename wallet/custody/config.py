"""Custody knobs for sweeps and cold storage (read from ``Settings`` when it has them).

Amounts are minor units of the asset named by the key; addresses are keyed
by chain value (``"ethereum"``, ``"solana"``, ``"bitcoin"``, ``"dogecoin"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


def _default_sweep_min() -> dict[str, int]:
    # Below these a sweep's fee is not worth paying; an unlisted asset is never swept.
    return {
        "ETH": 5 * 10**15,  # 0.005 ETH
        "USDC": 5 * 10**6,
        "SHIB": 500_000 * 10**18,
        "PEPE": 1_000_000 * 10**18,
        "SOL": 10**7,  # 0.01 SOL
        "USDC-SPL": 5 * 10**6,
        "BONK": 500_000 * 10**5,
        "BTC": 50_000,
        "DOGE": 50 * 10**8,
    }


def _default_signer_per_tx_cap() -> dict[str, int]:
    # The most one signature may move: the hot wallet's blast radius per
    # transaction, above the largest withdrawal the risk limits allow a
    # payer (₹2,00,000 a day) at any plausible price. An unlisted asset is
    # never signed.
    return {
        "ETH": 5 * 10**18,
        "USDC": 25_000 * 10**6,
        "SHIB": 2_000_000_000 * 10**18,
        "PEPE": 5_000_000_000 * 10**18,
        "SOL": 200 * 10**9,
        "USDC-SPL": 25_000 * 10**6,
        "BONK": 2_000_000_000 * 10**5,
        "BTC": 10**8,  # 1 BTC
        "DOGE": 200_000 * 10**8,
    }


@dataclass(frozen=True)
class CustodyConfig:
    """Sweep thresholds, cold storage and gas top-up policy.

    - ``sweep_min``: a deposit address is swept once it holds at least this.
    - ``cold_threshold``: hot-wallet balance above which the surplus goes
      to ``cold_addresses[chain]`` (which must be on the signer's allowlist).
    - ``topup_margin_bps``: a token sweep's gas/fee top-up is the fee
      estimate times this (10 000 = exactly the estimate).
    - ``sweep_confirmations``: confirmations before a top-up counts as landed.
    - ``signer_per_tx_cap`` / ``signer_daily_cap``: the signer's own limits
      per asset (:class:`wallet.custody.signer.SignerPolicy`); the daily cap
      defaults to ten times the per-transaction one.
    """

    sweep_min: Mapping[str, int] = field(default_factory=_default_sweep_min)
    cold_threshold: Mapping[str, int] = field(default_factory=dict)
    cold_addresses: Mapping[str, str] = field(default_factory=dict)
    topup_margin_bps: int = 15_000
    sweep_confirmations: int = 1
    signer_per_tx_cap: Mapping[str, int] = field(default_factory=_default_signer_per_tx_cap)
    signer_daily_cap: Mapping[str, int] | None = None

    def signer_daily_caps(self) -> dict[str, int]:
        """Per-asset daily caps: the configured ones, else ten per-transaction caps."""
        if self.signer_daily_cap is not None:
            return dict(self.signer_daily_cap)
        return {asset: cap * 10 for asset, cap in self.signer_per_tx_cap.items()}

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> CustodyConfig:
        """Fields from ``settings.custody_<name>`` when set; ``overrides`` win."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            value = getattr(settings, f"custody_{f.name}", None)
            if value is not None:
                values[f.name] = value
        return cls(**values)
