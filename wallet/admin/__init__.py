"""Operator actions, framework-free: the admin panel and the CLI call these.

- :mod:`.review` — held payments: retry settlement, refund to the payer,
  mark resolved; all through :func:`wallet.payments.transitions.transition`,
  audited, and above a threshold only with a second admin's approval
  (:mod:`.approvals`).
- :mod:`.exchange_accounts` — venue API keys sealed at rest, never shown
  again; venues enabled or disabled.
- :mod:`.users` — freeze/unfreeze, KYC tier and limits, the audit log.
- :mod:`.overview` — float, queued payouts, venue and wallet balances, and
  system health (chain scan heads, rate ages, paused assets, Dagster).
"""
