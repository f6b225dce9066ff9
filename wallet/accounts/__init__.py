"""Accounts: sign-up, sign-in, sessions and API tokens (framework-free).

- :mod:`~wallet.accounts.service` — sign-up (payers and merchants; admins
  are seeded), sign-in with Argon2id and throttling.
- :mod:`~wallet.accounts.sessions` — server-side sessions, sign-out
  everywhere, re-authentication for sensitive changes.
- :mod:`~wallet.accounts.tokens` — API bearer tokens, hashed at rest.
- :mod:`~wallet.accounts.throttle` — brute-force backoff per (account, IP).

Every function works in the caller's SQLAlchemy session and transaction;
:mod:`wallet.accounts.models` holds the tables (migration ``0003_accounts``).
"""
