"""Merchants: what a vendor who signed up gets beyond the UPI money.

Framework-free (plain SQLAlchemy, no Flask): the merchant dashboard, the
merchant REST API and background jobs call the same functions.

- :mod:`.profile` — sign-up profile and the payout VPA, validated with
  RazorpayX, changed only after a cooling-off period.
- :mod:`.links` — dynamic QRs: single-use payment links with amount, note
  and expiry (the payer flow resolves and consumes them).
- :mod:`.qr` — static sticker and dynamic QR images (segno).
- :mod:`.webhooks` — endpoints (secret sealed at rest), signed deliveries
  through the outbox with retries and backoff, a delivery log and replay.
- :mod:`.apikeys` — scoped API keys, shown once, revocable.
- :mod:`.queries` and :mod:`.analytics` — what the dashboard shows.
"""
