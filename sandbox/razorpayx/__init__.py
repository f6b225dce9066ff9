"""RazorpayX Payouts API stand-in (``python -m sandbox.razorpayx``).

Speaks the public RazorpayX API on loopback so the product's own client
(:mod:`wallet.payouts.razorpayx`) is exercised exactly as in production.
State lives in memory: a restart starts from a fresh float and no payouts.

API (HTTP basic auth with key id / key secret on every ``/v1`` path; errors
in Razorpay's shape ``{"error": {"code": "BAD_REQUEST_ERROR", "description",
"source", "step", "reason", "metadata", "field"}}``, 400 for bad input and
unknown ids/URLs, 401 for bad credentials; every success is 200):
- ``POST/GET /v1/contacts``, ``GET /v1/contacts/:id`` (same details → same contact).
- ``POST/GET /v1/fund_accounts``, ``GET /v1/fund_accounts/:id``: ``vpa``
  (``vpa.address``) and ``bank_account`` (``ifsc``, ``account_number``, ``name``).
- ``POST /v1/fund_accounts/validations``: VPA/bank validation, completed at
  once; the registered name is derived from the VPA username
  (``ravi.kumar@okaxis`` → ``Ravi Kumar``).
- ``POST /v1/payouts`` (normal and composite), ``GET /v1/payouts/:id``,
  ``GET /v1/payouts?account_number=&reference_id=``,
  ``POST /v1/payouts/:id/cancel`` (queued only). ``X-Payout-Idempotency`` is
  mandatory (4-36 letters, digits, ``-``, ``_``, space): same key + same body
  → the same payout in its latest state; same key + different body → 400;
  a *new* key always creates another payout, even while the first is
  processing (the real double-payout hazard).
- ``GET /v1/banking_balances``: the INR float (default ₹10,00,000).

Lifecycle, driven by a clock thread (``--process-delay`` seconds, default
0.5, jittered 60-100 %): ``processing`` → ``processed`` with a unique
12-digit UTR. With too little balance and ``queue_if_low_balance`` a payout
is ``queued`` until ``/__sandbox/topup`` (FIFO); without it, create is a 400.
Failed and reversed payouts credit amount + fees + tax back to the float.
Webhooks: ``payout.pending``, ``payout.queued``, ``payout.initiated`` (the
documented event for entering ``processing``), ``payout.processed``,
``payout.failed``, ``payout.rejected``, ``payout.reversed``; cancellation
sends none.

VPA test suffixes (on the username, before ``@``):
- ``…invalid@…``: validation says ``invalid``; create payout is a 400 (``invalid_vpa``).
- ``…fail@…`` / ``…failed@…``: processing → ``failed`` (``status_details`` set).
- ``…reverse@…``: ``processed`` (with UTR), then ``reversed`` one delay later.
- ``…slow@…``: stays ``processing`` until ``POST /__sandbox/advance``.
- ``…reject@…``: ``pending`` (approval workflow), then ``rejected``.
Bank accounts whose number ends in ``0000`` fail (IMPS) and validate invalid.

Admin (no auth, loopback only):
- ``POST /__sandbox/webhooks`` ``{"url": ...}`` or ``{"urls": [...]}`` sets the
  delivery URLs (loopback only); ``GET`` returns them and the delivery log.
- ``POST /__sandbox/topup`` ``{"amount": paise}``; ``GET /__sandbox/balance``.
- ``POST /__sandbox/advance`` ``{"payout_id", "status"}`` forces a transition
  RazorpayX itself could make (e.g. processing → processed/failed/reversed,
  processed → reversed, queued → cancelled, pending → rejected).

Fault knobs (``POST /__sandbox/faults`` with ``{"extra": {...}}``; booleans
stay on, integers count down):
- ``webhook_duplicate``: deliver every event twice (same event id).
- ``webhook_reorder``: hold a payout's events and deliver them newest first
  (e.g. ``payout.processed`` before ``payout.initiated``).
- ``webhook_drop``: lose events.
- ``reverse_next``: the next N processed payouts are later reversed.
- ``approval_workflow``: new payouts start ``pending`` and are approved one
  delay later (``payout.pending`` is sent).
The shared socket-level faults (latency, 503, timeout, reset, perform-then-
drop) apply per request label, e.g. ``{"match": "POST /v1/payouts", "drop_next": 1}``.
"""
