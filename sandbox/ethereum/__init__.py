"""Ethereum stand-in: the real ``anvil`` node behind a fault-injecting JSON-RPC proxy.

Run as ``python -m sandbox.ethereum --host 127.0.0.1 --port P --state-dir DIR
--seed S [--block-time SECONDS]``. The process:

1. compiles ``sandbox/contracts/*.sol`` with the pinned npm ``solc`` (cached in
   ``DIR/solc-<hash>.json``);
2. starts anvil (npm ``@foundry-rs/anvil``) on a private free port as its child
   — mnemonic ``test test … junk``, chain id 31337, 1,000,000 ETH per dev
   account; anvil's output goes to ``DIR/anvil.log``;
3. deploys, from dev account 0 (the faucet), USDC (6 decimals), SHIB (18),
   PEPE (18) — ``SandboxToken``, a plain ERC-20 with owner-only ``mint`` — and
   two hostile tokens: FALSE (``transfer`` returns false, moves nothing, emits
   nothing) and FEEMEME (burns 2% of every transfer). A fresh chain and a fixed
   order make the addresses the same on every start;
4. switches to interval mining (``--block-time``, default 1 s: realistic
   confirmation delays, empty blocks keep the head moving, negligible CPU).
   ``--block-time 0`` keeps instant mining, one block per transaction;
5. serves JSON-RPC on P, relaying single and batch requests to anvil unchanged.

Health (``GET /__sandbox/health``): ``head`` is ``eth_blockNumber``; ``info`` has
``url``, ``chain_id``, ``block_time``, ``credentials.faucet_address`` (never a
key), ``tokens`` {USDC, SHIB, PEPE, FALSE, FEEMEME: address} and ``settings``
{``eth_rpc_url``, ``token_contracts`` {USDC, SHIB, PEPE}}.

Admin endpoints (all ``POST``, JSON bodies; errors are 400
``{"error": {"code", "message"}}``, or 409 ``node_rejected`` when anvil refuses):

- ``/__sandbox/fund`` {"address", "asset": ETH|USDC|SHIB|PEPE|FALSE|FEEMEME,
  "amount": "1.5"} — a real transfer from the faucet, mined before answering:
  {"txid", "block", "block_hash", "asset", "address", "amount_minor"}. FALSE is
  delivered by ``mint`` (its transfer cannot move anything); FEEMEME arrives
  2% short, as every transfer of it does.
- ``/__sandbox/reorg`` {"depth": N} — ``anvil_reorg``: the last N blocks are
  replaced by new empty ones; their transactions are gone (not re-queued).
  Answers {"old_head", "new_head", "dropped": [txids]}.
- ``/__sandbox/rollback`` {"depth": N} — ``anvil_rollback``: the head goes back N.
- ``/__sandbox/mine`` {"blocks": N} — mine N blocks now.
- ``/__sandbox/snapshot`` {} → {"id"}; ``/__sandbox/revert`` {"id"} — evm_snapshot/evm_revert.
- ``/__sandbox/drop`` {"txhash"} — ``anvil_dropTransaction``: evict a pending tx.

Faults: the shared ``POST /__sandbox/faults`` knobs apply per request label
``"POST / eth_sendRawTransaction"`` etc. (batch requests carry no method in the
label, so only ``match`` strings without a method hit them). E.g.
``{"match": "eth_sendRawTransaction", "drop_next": 1}`` relays the transaction
and then cuts the connection: the client sees an error, yet the tx is mined.
Stand-in specific ``extra`` knob:

- ``drop_tx_next``: N — the next N single ``eth_sendRawTransaction`` calls are
  answered with the transaction's real hash but never reach the node, like a
  transaction evicted from every mempool: it never mines, the nonce stays free
  for a replacement.
"""
