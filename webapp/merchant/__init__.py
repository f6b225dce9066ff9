"""The merchant dashboard (issue 8): profile and payout VPA, QR codes,
payments, soundbox, webhooks and API keys; plus the public ``/m/<id>``
dynamic-QR link that opens the payer's flow.

Views validate input, call :mod:`wallet.merchants` in short transactions
(never one held across a network call: on SQLite every transaction holds
the write lock) and render pages with external scripts only (CSP-ready).
"""

from __future__ import annotations

# The view modules attach their routes to the blueprints above.
from webapp.merchant import dashboard, integrations, payments, qrcodes  # noqa: F401
from webapp.merchant.common import bp, links_bp

__all__ = ["bp", "links_bp"]
