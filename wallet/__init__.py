"""TaskForce Wallet domain core: money, ledger, payments, custody, chains.

Framework-free: imports neither Flask nor Dagster, so the web app, the
Dagster code location and the tests all call the same functions.
"""
