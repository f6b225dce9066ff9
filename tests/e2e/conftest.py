"""Reuse the settlement suite's stand-ins."""

from tests.settlement.conftest import rzp, venues

__all__ = ["rzp", "venues"]
