"""Key custody: seeds at rest, derivation, the signer, deposits and withdrawals.

- :mod:`~wallet.custody.kms` — KMS-style key manager (envelope encryption).
- :mod:`~wallet.custody.vault` — per-family BIP39 seeds, encrypted; rotation.
- :mod:`~wallet.custody.hd` — BIP44/84/SLIP-10 derivation; xpubs for the web tier.
- :mod:`~wallet.custody.addresses` — address allocation; the Solana pool.
- :mod:`~wallet.custody.signer` — the only decrypting code; caps and allowlist.
- :mod:`~wallet.custody.deposits` — credit rules, confirmation, reorg reversal.
- :mod:`~wallet.custody.withdrawals` — hold → broadcast → confirm → post.
- :mod:`~wallet.custody.sweeps` — deposit addresses → hot (gas top-ups), surplus → cold.
- :mod:`~wallet.custody.fees` — network fees booked to ``expense:network_fees``.
- :mod:`~wallet.custody.config` — sweep and cold-storage knobs (``CustodyConfig``).
- :mod:`~wallet.custody.service` — the facade: deposit addresses, payment targets, ticks.
"""
