"""The sandbox faucet: a deterministic key that receives every mined coinbase.

Funding builds and signs a real transaction with bitcoinlib (never its
wallet/service layer, which calls public providers), spending the faucet's
largest mature coins, paying change back to the faucet.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sandbox.utxo.chain import Coin, Node
from sandbox.utxo.params import NetworkParams
from sandbox.utxo.script import classify, hash160, p2pkh_script, p2wpkh_script
from sandbox.utxo.tx import Tx, parse_tx

RBF_SEQUENCE = 0xFFFFFFFD  # Core's wallet signals BIP125 by default since v24


class FaucetEmpty(Exception):
    """Not enough mature faucet coins for the requested amount."""


class Faucet:
    def __init__(self, params: NetworkParams, seed: int) -> None:
        from bitcoinlib.keys import Key  # lazy: importing bitcoinlib touches its data dir

        self.params = params
        secret = hashlib.sha256(f"taskforce-sandbox/{params.name}/faucet/{seed}".encode()).digest()
        self.key: Any = Key(secret, network=params.bitcoinlib_network, compressed=True)
        pubkey_hash = hash160(self.key.public_byte)
        self.segwit = params.bech32_hrp is not None
        self.script = p2wpkh_script(pubkey_hash) if self.segwit else p2pkh_script(pubkey_hash)
        address = classify(params, self.script).address
        if address is None:
            raise RuntimeError("faucet script has no address")
        self.address = address

    def _vsize(self, n_in: int, n_out: int) -> int:
        """Upper bound of the signed size (outputs up to 43 bytes, e.g. P2TR)."""
        if self.segwit:
            return 11 + 68 * n_in + 43 * n_out
        return 10 + 149 * n_in + 43 * n_out

    def build(self, node: Node, script: bytes, value: int, fee_rate: int) -> Tx:
        """A signed transaction paying ``value`` to ``script`` at ``fee_rate`` per 1000 vB."""
        coins = sorted(node.spendable(self.script), key=lambda oc: -oc[1].value)
        chosen: list[tuple[tuple[str, int], Coin]] = []
        total = 0
        fee = 0
        for outpoint, coin in coins:
            chosen.append((outpoint, coin))
            total += coin.value
            fee = -(-fee_rate * self._vsize(len(chosen), 2) // 1000)
            if total >= value + fee:
                break
        else:
            raise FaucetEmpty(f"faucet holds {total} spendable units, needs {value + fee}")
        from bitcoinlib.transactions import Transaction

        witness_type = "segwit" if self.segwit else "legacy"
        tx: Any = Transaction(network=self.params.bitcoinlib_network, witness_type=witness_type)
        for (txid, n), coin in chosen:
            tx.add_input(
                txid,
                n,
                keys=self.key,
                value=coin.value,
                witness_type=witness_type,
                sequence=RBF_SEQUENCE,
            )
        tx.add_output(value, lock_script=script)
        change = total - value - fee
        if change >= self.params.dust_limit(self.script):
            tx.add_output(change, lock_script=self.script)
        tx.sign(self.key)
        # Re-parse our own encoding: bitcoinlib's cached txid is stale after signing.
        return parse_tx(bytes.fromhex(tx.raw_hex()), allow_witness=self.segwit)
