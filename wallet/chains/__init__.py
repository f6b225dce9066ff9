"""Chain adapters: one interface (:mod:`wallet.chains.base`), three families.

- :mod:`wallet.chains.evm` — Ethereum over web3.py (JSON-RPC over HTTP).
- :mod:`wallet.chains.solana` — Solana over solana-py's AsyncClient, exposed sync.
- :mod:`wallet.chains.utxo` — Bitcoin/Dogecoin over Bitcoin Core JSON-RPC (httpx),
  transactions built and signed with bitcoinlib (never its wallet layer).

Scanning (:mod:`wallet.chains.scanner`) records insert-only observations
with their block hash and walks back on a reorg; crediting lives in
:mod:`wallet.custody.deposits`; idempotent sends in :mod:`wallet.chains.broadcast`.
"""
