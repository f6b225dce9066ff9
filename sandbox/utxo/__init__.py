"""Bitcoin / Dogecoin regtest node stand-in speaking Bitcoin Core's JSON-RPC.

No bitcoind can be installed here, so this package is a small node: real
transactions (bitcoinlib checks the signatures), a UTXO set, a mempool with
BIP125 opt-in replace-by-fee, mining and reorgs. One process per network::

    python -m sandbox.utxo --network bitcoin|dogecoin --host 127.0.0.1 --port P \\
        --state-dir DIR --seed S [--rpc-user sandbox --rpc-password sandbox]
        [--block-interval SECONDS] [--coinbase-maturity N] [--initial-blocks N]

Networks
- bitcoin: Bitcoin Core ``-regtest`` (real regtest genesis hash, ``bcrt1…``
  P2WPKH and ``m…/n…`` P2PKH addresses; bitcoinlib network ``regtest``, whose
  base58 P2PKH prefix is mainnet's 0x00 — such ``1…`` addresses are accepted
  as an alias on input but never emitted).
- dogecoin: bitcoinlib has no Dogecoin regtest, so addresses/keys use
  ``dogecoin_testnet`` (P2PKH ``n…``, version 0x71); no segwit; block rules
  follow Dogecoin Core regtest (scrypt PoW at the trivial regtest target,
  500k DOGE reward halving every 150 blocks down to 10k, maturity 60, relay
  fee 0.001 DOGE/kB, dust 0.01 DOGE). ``getblockchaininfo.chain`` is
  "regtest". Scripts additionally carry Dogecoin 1.14's ``reqSigs``/``addresses``.

Validation (sendrawtransaction / testmempoolaccept / faucet): inputs exist in
the UTXO set or the mempool and are unspent (-25
``bad-txns-inputs-missingorspent``); P2WPKH and P2PKH spends only, signatures
verified by bitcoinlib (-26 ``mandatory-script-verify-flag-failed (…)``);
outputs ≤ inputs, min relay fee (-26 ``min relay fee not met``), dust,
standard output scripts, coinbase maturity (default 100 / 60 blocks; relax
with ``--coinbase-maturity``); conflicting spends -26 ``txn-mempool-conflict``
unless every conflicting tx signals BIP125 (an input nSequence < 0xfffffffe)
and the replacement pays a higher feerate and a higher absolute fee plus the
incremental relay fee, then the replaced txs and their descendants leave the
mempool (Core before v28: no full-RBF). No block size limit; no P2SH/P2WSH/
P2TR spends (paying to them is fine).

Chain: blocks are real serialised headers (merkle root, BIP141 witness
commitment, PoW at regtest difficulty). At start, before serving,
max(101, maturity + 1) blocks are mined to the faucet. ``--block-interval``
mines one block every N seconds (default 0: off, so tests are deterministic;
the manager may pass e.g. 10). ``invalidateblock`` disconnects the block and
its descendants and returns their non-coinbase txs to the mempool;
``reconsiderblock`` re-activates the best branch. All state is in memory:
restarting the process resets the chain (``--state-dir`` only holds
bitcoinlib's data directory, set through ``BCL_DATA_DIR``).

Admin (no auth, JSON bodies, errors as {"error": {"code", "message"}} 400):
- ``POST /__sandbox/fund`` {"address", "asset": "BTC"|"DOGE", "amount": "0.5",
  "confirm": true, "idempotency_key"?} → {"txid", "vout", "blockhash"?, ...};
  a real faucet transaction through the mempool validation, one block mined
  unless ``confirm`` is false.
- ``POST /__sandbox/mine`` {"blocks": 1, "address"?} → {"blockhashes", "height"}.
- ``POST /__sandbox/reorg`` {"depth": N, "drop_txs": false|true|[txid…],
  "address"?} → invalidates the block N deep (N blocks leave the chain), drops
  the listed (true: all) reorged txs from the mempool, mines N+1 new blocks.
- ``POST /__sandbox/drop_tx`` {"txid"} → evicts a mempool tx and descendants.

Fault knobs (``POST /__sandbox/faults`` {"extra": {...}}), besides the shared
latency/error/timeout/reset/drop faults keyed by ``"POST / <rpcmethod>"``:
- ``mine_paused``: the block-interval miner stops (explicit mining still works).
- ``drop_broadcasts``: sendrawtransaction validates and returns the txid but
  the tx never enters the mempool (a broadcast that silently vanished).
- ``fee_multiplier``: estimatesmartfee's rate is multiplied (a fee spike).
- ``estimatesmartfee_no_data``: estimatesmartfee answers Core's
  "Insufficient data or no feerate found".
"""
