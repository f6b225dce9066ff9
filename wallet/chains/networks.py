"""Which network each chain talks to: mainnet or the local sandbox.

The sandbox runs anvil (chain id 31337), Bitcoin ``regtest`` (``bcrt1…``)
and a Dogecoin regtest that uses Dogecoin *testnet* address encoding
(P2PKH version 0x71, ``n…``; see ``sandbox/utxo/params.py``). Test networks
use SLIP-44 coin type 1 for Bitcoin and Dogecoin (bip_utils' testnet
configs), mainnets 0 and 3. ``production`` settings select mainnet; every
other environment the sandbox.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wallet.assets import Chain
from wallet.config import Settings


class NetworkKind(enum.StrEnum):
    MAINNET = "mainnet"
    SANDBOX = "sandbox"


@dataclass(frozen=True, slots=True)
class ChainNetwork:
    chain: Chain
    kind: NetworkKind
    evm_chain_id: int | None = None
    bech32_hrp: str | None = None  # None: no segwit (Dogecoin)
    p2pkh_version: int | None = None
    p2sh_version: int | None = None
    bitcoinlib_network: str | None = None
    segwit: bool = False


_NETWORKS: dict[tuple[Chain, NetworkKind], ChainNetwork] = {
    (Chain.ETHEREUM, NetworkKind.MAINNET): ChainNetwork(
        Chain.ETHEREUM, NetworkKind.MAINNET, evm_chain_id=1
    ),
    (Chain.ETHEREUM, NetworkKind.SANDBOX): ChainNetwork(
        Chain.ETHEREUM, NetworkKind.SANDBOX, evm_chain_id=31337
    ),
    (Chain.SOLANA, NetworkKind.MAINNET): ChainNetwork(Chain.SOLANA, NetworkKind.MAINNET),
    (Chain.SOLANA, NetworkKind.SANDBOX): ChainNetwork(Chain.SOLANA, NetworkKind.SANDBOX),
    (Chain.BITCOIN, NetworkKind.MAINNET): ChainNetwork(
        Chain.BITCOIN, NetworkKind.MAINNET, None, "bc", 0x00, 0x05, "bitcoin", True
    ),
    (Chain.BITCOIN, NetworkKind.SANDBOX): ChainNetwork(
        Chain.BITCOIN, NetworkKind.SANDBOX, None, "bcrt", 0x6F, 0xC4, "regtest", True
    ),
    (Chain.DOGECOIN, NetworkKind.MAINNET): ChainNetwork(
        Chain.DOGECOIN, NetworkKind.MAINNET, None, None, 0x1E, 0x16, "dogecoin", False
    ),
    (Chain.DOGECOIN, NetworkKind.SANDBOX): ChainNetwork(
        Chain.DOGECOIN, NetworkKind.SANDBOX, None, None, 0x71, 0xC4, "dogecoin_testnet", False
    ),
}


def network_kind(settings: Settings) -> NetworkKind:
    return NetworkKind.MAINNET if settings.environment == "production" else NetworkKind.SANDBOX


def network(chain: Chain, kind: NetworkKind) -> ChainNetwork:
    return _NETWORKS[(chain, kind)]
