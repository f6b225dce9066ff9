"""The asset registry: the one place that knows each asset's shape.

Decimals, chain family, contract or mint per network, and how many
confirmations each risk tier needs before a deposit counts. Contract and
mint addresses differ per network; the sandbox deploys its own and reports
them through settings (``token_contracts``), which override these mainnet
defaults.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from wallet.errors import UnknownAsset


class Chain(enum.StrEnum):
    """Where an asset lives. ``FIAT`` is off-chain (INR in the float)."""

    ETHEREUM = "ethereum"
    SOLANA = "solana"
    BITCOIN = "bitcoin"
    DOGECOIN = "dogecoin"
    FIAT = "fiat"


class ChainFamily(enum.StrEnum):
    EVM = "evm"
    SOLANA = "solana"
    UTXO = "utxo"
    FIAT = "fiat"


CHAIN_FAMILY: Mapping[Chain, ChainFamily] = {
    Chain.ETHEREUM: ChainFamily.EVM,
    Chain.SOLANA: ChainFamily.SOLANA,
    Chain.BITCOIN: ChainFamily.UTXO,
    Chain.DOGECOIN: ChainFamily.UTXO,
    Chain.FIAT: ChainFamily.FIAT,
}


class AssetClass(enum.StrEnum):
    """Volatility class: drives the quote's buffer and risk defaults."""

    FIAT = "fiat"
    STABLE = "stable"
    MAJOR = "major"
    MEME = "meme"


class RiskTier(enum.StrEnum):
    """Size tier of a payment, used to pick a confirmation rule."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


@dataclass(frozen=True)
class Asset:
    """Static facts about one asset.

    ``confirmations`` maps a risk tier to the number of blocks (or, for
    Solana, the commitment depth in slots) a deposit needs before credit.
    ``tier_limits_inr_paise`` gives the upper INR bound of SMALL and MEDIUM.
    """

    symbol: str
    name: str
    chain: Chain
    decimals: int
    asset_class: AssetClass
    contract: str | None = None  # mainnet contract / mint; None for natives
    confirmations: Mapping[RiskTier, int] = field(default_factory=dict)
    tier_limits_inr_paise: tuple[int, int] = (200_000, 5_000_000)  # ₹2,000 / ₹50,000

    @property
    def family(self) -> ChainFamily:
        return CHAIN_FAMILY[self.chain]

    @property
    def is_native(self) -> bool:
        return self.contract is None and self.chain is not Chain.FIAT

    def tier_for(self, inr_paise: int) -> RiskTier:
        small, medium = self.tier_limits_inr_paise
        if inr_paise <= small:
            return RiskTier.SMALL
        if inr_paise <= medium:
            return RiskTier.MEDIUM
        return RiskTier.LARGE

    def confirmations_for(self, inr_paise: int) -> int:
        return self.confirmations[self.tier_for(inr_paise)]


def _conf(small: int, medium: int, large: int) -> dict[RiskTier, int]:
    return {RiskTier.SMALL: small, RiskTier.MEDIUM: medium, RiskTier.LARGE: large}


_EVM = _conf(12, 32, 64)  # ~1 epoch / finalized-ish on mainnet; sandbox overrides
_SOL = _conf(32, 32, 32)  # finalized commitment depth
_BTC = _conf(3, 3, 6)
_DOGE = _conf(6, 20, 40)

REGISTRY: Mapping[str, Asset] = {
    a.symbol: a
    for a in (
        Asset("INR", "Indian Rupee", Chain.FIAT, 2, AssetClass.FIAT),
        Asset("ETH", "Ether", Chain.ETHEREUM, 18, AssetClass.MAJOR, None, _EVM),
        Asset(
            "USDC",
            "USD Coin (ERC-20)",
            Chain.ETHEREUM,
            6,
            AssetClass.STABLE,
            "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
            _EVM,
        ),
        Asset(
            "SHIB",
            "Shiba Inu",
            Chain.ETHEREUM,
            18,
            AssetClass.MEME,
            "0x95aD61b0a150d79219dCF64E1E6Cc01f0B64C4cE",
            _EVM,
        ),
        Asset(
            "PEPE",
            "Pepe",
            Chain.ETHEREUM,
            18,
            AssetClass.MEME,
            "0x6982508145454Ce325dDbE47a25d4ec3d2311933",
            _EVM,
        ),
        Asset("SOL", "Solana", Chain.SOLANA, 9, AssetClass.MAJOR, None, _SOL),
        Asset(
            "USDC-SPL",
            "USD Coin (SPL)",
            Chain.SOLANA,
            6,
            AssetClass.STABLE,
            "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
            _SOL,
        ),
        Asset(
            "BONK",
            "Bonk",
            Chain.SOLANA,
            5,
            AssetClass.MEME,
            "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB68pB263",
            _SOL,
        ),
        Asset("BTC", "Bitcoin", Chain.BITCOIN, 8, AssetClass.MAJOR, None, _BTC),
        Asset("DOGE", "Dogecoin", Chain.DOGECOIN, 8, AssetClass.MEME, None, _DOGE),
        # Quote currency on exchanges; never held by payers.
        Asset("USDT", "Tether (exchange balance)", Chain.FIAT, 6, AssetClass.STABLE),
    )
}

CRYPTO_ASSETS: tuple[str, ...] = tuple(s for s, a in REGISTRY.items() if a.chain is not Chain.FIAT)


def get_asset(symbol: str) -> Asset:
    """The registry entry for ``symbol``; a clear error for anything else."""
    try:
        return REGISTRY[symbol]
    except (KeyError, TypeError):
        raise UnknownAsset(f"unknown asset {symbol!r}") from None


def contract_for(symbol: str, overrides: Mapping[str, str] | None = None) -> str | None:
    """Contract/mint address of a token on the configured network."""
    asset = get_asset(symbol)
    if asset.contract is None:
        return None
    if overrides and symbol in overrides:
        return overrides[symbol]
    return asset.contract
