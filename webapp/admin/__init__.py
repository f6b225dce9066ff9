"""The admin panel (issue 8, "Admin panel"): admins only, everyone else 404.

Payments across all merchants, the review queue with two-admin approvals,
settlements and float, exchange accounts, system health, users and the
audit log. Every action is a POST with the CSRF token, calls
:mod:`wallet.admin` in one short transaction and is audited there.
"""

from __future__ import annotations

from webapp.admin import operations, payments, people  # noqa: F401
from webapp.admin.common import bp

__all__ = ["bp"]
