"""Settlement: pay the vendor first, then sell the crypto, booking every step.

Framework-free (Dagster and tests call the same functions):

- :mod:`~wallet.settlement.service`: ``settle_payment`` / ``settle_pass``.
- :mod:`~wallet.settlement.payouts`: the RazorpayX payout step and status application.
- :mod:`~wallet.settlement.webhooks`: the verified, deduplicated webhook handler.
- :mod:`~wallet.settlement.selling`: sell batches per asset per window.
- :mod:`~wallet.settlement.ledger`: the journal entries of each step.
- :mod:`~wallet.settlement.crash`: named crash points for the recovery tests.
"""
