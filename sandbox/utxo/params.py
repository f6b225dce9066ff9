"""Per-network constants of the regtest stand-in (Bitcoin regtest, Dogecoin).

Bitcoin follows Bitcoin Core's ``-regtest`` chain parameters. Dogecoin has no
regtest network in bitcoinlib, so addresses and keys use bitcoinlib's
``dogecoin_testnet`` encoding (P2PKH version 0x71, ``n…`` addresses, WIF 0xf1)
while block rules (instant blocks, 150-block halvings) follow Dogecoin Core's
regtest. Amounts are integers in the chain's minor unit (satoshi / koinu).
"""

from __future__ import annotations

from dataclasses import dataclass

COIN = 100_000_000


@dataclass(frozen=True)
class NetworkParams:
    name: str  # "bitcoin" | "dogecoin"
    asset: str  # the asset symbol /__sandbox/fund accepts
    chain: str  # getblockchaininfo "chain"
    bitcoinlib_network: str
    p2pkh_version: int
    p2sh_version: int
    # Extra P2PKH versions accepted on input (never emitted), see module docs.
    p2pkh_aliases: tuple[int, ...]
    bech32_hrp: str | None  # None: the chain has no segwit
    coinbase_maturity: int
    halving_interval: int
    initial_subsidy: int
    min_subsidy: int
    min_relay_fee: int  # per 1000 virtual bytes
    incremental_relay_fee: int  # per 1000 virtual bytes (BIP125 rule 4)
    default_fee_estimate: int  # per 1000 virtual bytes, what estimatesmartfee answers
    max_fee_rate: int  # per 1000 vbytes; sendrawtransaction's default maxfeerate, 0 = none
    dust_p2pkh: int
    dust_p2wpkh: int
    block_version: int
    genesis_time: int
    core_version: int
    subversion: str
    default_port: int

    def subsidy(self, height: int) -> int:
        """Block reward at ``height`` (halves every ``halving_interval``)."""
        halvings = height // self.halving_interval
        if halvings >= 64:
            return self.min_subsidy
        return max(self.initial_subsidy >> halvings, self.min_subsidy)

    def dust_limit(self, script: bytes) -> int:
        if self.bech32_hrp and len(script) in (22, 34) and script[0] in (0x00, 0x51):
            return self.dust_p2wpkh if len(script) == 22 else 330
        if script[:1] == b"\x6a":
            return 0  # OP_RETURN outputs are exempt
        return self.dust_p2pkh


BITCOIN = NetworkParams(
    name="bitcoin",
    asset="BTC",
    chain="regtest",
    bitcoinlib_network="regtest",
    p2pkh_version=0x6F,
    p2sh_version=0xC4,
    # bitcoinlib's "regtest" network encodes P2PKH with mainnet's 0x00.
    p2pkh_aliases=(0x00,),
    bech32_hrp="bcrt",
    coinbase_maturity=100,
    halving_interval=150,
    initial_subsidy=50 * COIN,
    min_subsidy=0,
    min_relay_fee=1_000,
    incremental_relay_fee=1_000,
    default_fee_estimate=2_000,
    max_fee_rate=10_000_000,  # 0.10 BTC/kvB, Bitcoin Core's DEFAULT_MAX_RAW_TX_FEE_RATE
    dust_p2pkh=546,
    dust_p2wpkh=294,
    block_version=0x20000000,
    genesis_time=1_296_688_602,
    core_version=270_000,
    subversion="/Satoshi:27.0.0/",
    default_port=18443,
)

DOGECOIN = NetworkParams(
    name="dogecoin",
    asset="DOGE",
    chain="regtest",
    bitcoinlib_network="dogecoin_testnet",
    p2pkh_version=0x71,
    p2sh_version=0xC4,
    p2pkh_aliases=(),
    bech32_hrp=None,
    coinbase_maturity=60,
    halving_interval=150,
    initial_subsidy=500_000 * COIN,
    min_subsidy=10_000 * COIN,
    min_relay_fee=100_000,  # 0.001 DOGE/kB (Dogecoin Core 1.14.5+)
    incremental_relay_fee=100_000,
    default_fee_estimate=1_000_000,  # 0.01 DOGE/kB, the recommended fee
    max_fee_rate=0,
    dust_p2pkh=1_000_000,  # 0.01 DOGE
    dust_p2wpkh=1_000_000,
    block_version=0x00620004,
    genesis_time=1_296_688_602,
    core_version=1_140_700,
    subversion="/Shibetoshi:1.14.7/",
    default_port=18445,
)

NETWORKS = {p.name: p for p in (BITCOIN, DOGECOIN)}
