"""Anvil fixtures for the EVM tests here (module-scoped: one node per test module)."""

from tests.chains.eth_fixtures import admin, eth

__all__ = ["admin", "eth"]
