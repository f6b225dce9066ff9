"""Reuse the settlement suite's databases and stand-ins."""

from tests.settlement.conftest import db_url, factory, rzp, venues

__all__ = ["db_url", "factory", "rzp", "venues"]
