"""Knobs of quoting: fees, buffers, expiry per chain and payment limits.

Fees and buffers are basis points or paise. Built from ``Settings`` with
:meth:`QuoteConfig.from_settings` (fields missing there take the defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wallet.assets import Chain
from wallet.rates.config import RatesConfig, _from_settings


def _default_buffers() -> dict[str, int]:
    return {"stable": 20, "major": 100, "meme": 300}


def _default_network_fees() -> dict[str, int]:
    # What moving the coin on to the exchange costs us, in paise, until the chain
    # adapters estimate it live: an ERC-20 transfer, an SPL transfer, a BTC/DOGE spend.
    return {"ethereum": 2_000, "solana": 100, "bitcoin": 10_000, "dogecoin": 500}


def _default_ttls() -> dict[str, int]:
    # Bitcoin payers often wait for their wallet's fee estimate; give them longer.
    return {"bitcoin": 300}


@dataclass(frozen=True)
class QuoteConfig:
    """Everything :func:`wallet.quotes.make_quote` needs besides market data."""

    quote_ttl_seconds: int = 90
    quote_ttl_by_chain: Mapping[str, int] = field(default_factory=_default_ttls)
    platform_fee_bps: int = 100
    platform_fee_fixed_paise: int = 0
    volatility_buffer_bps: Mapping[str, int] = field(default_factory=_default_buffers)
    network_fee_paise: Mapping[str, int] = field(default_factory=_default_network_fees)
    tds_bps: int = 0  # placeholder: issue 9 adds TDS
    min_payment_paise: int = 100
    max_payment_paise: int = 10_000_000
    rates: RatesConfig = field(default_factory=RatesConfig)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> QuoteConfig:
        overrides = dict(overrides)
        overrides.setdefault("rates", RatesConfig.from_settings(settings))
        return _from_settings(cls, settings, overrides)

    def ttl_seconds(self, chain: Chain) -> int:
        return self.quote_ttl_by_chain.get(chain.value, self.quote_ttl_seconds)
