"""Vendor payouts over RazorpayX: a typed client and webhook verification.

- :mod:`wallet.payouts.status`: the payout status enum, its terminal sets and
  the forward-only ordering used to apply webhooks and polls.
- :mod:`wallet.payouts.razorpayx`: the HTTP client (contacts, fund accounts,
  VPA validation, payouts with ``X-Payout-Idempotency``).
- :mod:`wallet.payouts.webhooks`: signature verification over the raw body
  and parsing into typed events.
- :mod:`wallet.payouts.errors`: typed errors with stable codes.
"""
