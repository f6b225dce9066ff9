"""Solana stand-in: a JSON-RPC 2.0 node over ``solders.litesvm.LiteSVM``.

Run as ``python -m sandbox.solana --port P [--state-dir D --seed S]`` plus:

- ``--slot-ms`` (400): one block per slot on a clock thread.
- ``--confirm-depth`` (1) / ``--finalize-depth`` (32): blocks behind the head
  at which ``confirmed`` / ``finalized`` commitment sit.
- ``--blockhash-validity`` (150): blocks a blockhash stays usable;
  ``getLatestBlockhash`` reports ``lastValidBlockHeight`` = its height + this.

Real signed transactions execute in LiteSVM (System, SPL Token, Associated
Token Account and Memo programs are built in) the moment they are received,
in the head slot. Genesis funds a faucet keypair derived from ``--seed`` and
creates the mints USDC-SPL (6 decimals) and BONK (5), faucet as mint
authority, supply held in the faucet's associated token account. State lives
in memory only; a restart starts a fresh chain (same seed, same addresses).

RPC methods (Solana RPC docs, "HTTP Methods"): getAccountInfo, getBalance,
getBlock, getBlockHeight, getBlockTime, getBlocks, getBlocksWithLimit,
getEpochInfo, getFeeForMessage, getFirstAvailableBlock, getGenesisHash,
getHealth, getLatestBlockhash, getMinimumBalanceForRentExemption,
getMultipleAccounts, getRecentPrioritizationFees, getSignatureStatuses,
getSignaturesForAddress, getSlot, getTokenAccountBalance,
getTokenAccountsByOwner, getTokenSupply, getTransaction,
getTransactionCount, getVersion, isBlockhashValid, requestAirdrop,
sendTransaction, simulateTransaction.

Admin (``POST``, JSON bodies):

- ``/__sandbox/fund`` ``{"address", "asset": "SOL"|"USDC-SPL"|"BONK",
  "amount": "1.5"}`` — a real faucet-signed transfer through the
  sendTransaction path (tokens go to the owner's associated token account,
  created idempotently in the same transaction) →
  ``{"txid", "slot", "address", "asset", "amount", "units"}``; 400 with
  ``{"error", "code"}`` for a bad address / asset / amount.
- ``/__sandbox/mine`` ``{"blocks": N}`` — produce N blocks now.
- ``/__sandbox/reorg`` — 501 ``unsupported``. LiteSVM state cannot roll back,
  and on Solana the failure that matters is not a reorg but a transaction
  that never lands: use the ``drop_tx_*`` faults below.

Fault knobs in ``FaultConfig.extra`` (``POST /__sandbox/faults {"extra": {...}}``),
besides the shared HTTP-level faults of :mod:`sandbox.faults`:

- ``drop_tx_next`` (int): the next N ``sendTransaction`` calls that pass
  preflight return their signature but never execute. Once the block height
  passes the blockhash's ``lastValidBlockHeight`` the transaction is
  definitively dropped (its status stays null). Re-sending the same signed
  transaction while the blockhash is valid lands it, as a rebroadcast does.
- ``drop_tx_rate`` (0..1): the same, per call, with seeded probability.
- ``skip_slots_next`` (int): the next block is produced N slots later; the
  N slots in between are skipped (getBlock answers -32007 for them).
- ``skip_slot_rate`` (0..1): each new block skips one slot with this probability.

Fidelity notes: account reads (getBalance, getTokenAccountBalance and the
lamports/existence of getAccountInfo) honour ``commitment`` by unwinding
recorded pre-balances; account *data* and getTokenAccountsByOwner reflect
the head. simulateTransaction never returns innerInstructions. Durable-nonce
transactions are not supported. LiteSVM's compute-unit figures are far below
mainnet's. Fees are 5000 lamports per signature.
"""
