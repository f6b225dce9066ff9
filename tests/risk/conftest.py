"""Fixtures: see tests/risk/fixtures.py."""

from tests.risk.fixtures import pg_factory, risk_pg_url, risk_sqlite_template, sqlite_factory

__all__ = ["pg_factory", "risk_pg_url", "risk_sqlite_template", "sqlite_factory"]
