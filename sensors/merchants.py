"""Merchant housekeeping each tick: webhook events, signed deliveries, due VPA changes.

No runs: the work is short and idempotent, so the sensor does it in place.
:func:`wallet.merchants.webhooks.deliver_due` claims each outbox message
with ``FOR UPDATE SKIP LOCKED`` and pushes it out by a lease, so a second
daemon (or a crashed tick) never sends a message twice at once; receivers
dedupe on the event id for the at-least-once rest.
"""

from __future__ import annotations

import dagster as dg

from pipelines import resources
from pipelines.resources import WalletDatabase
from wallet.db.base import utcnow
from wallet.db.session import transaction
from wallet.devkeys import platform_kms
from wallet.merchants import profile, webhooks
from wallet.merchants.config import MerchantConfig

# Deliveries per tick: with a 5 s timeout each this stays well inside
# Dagster's sensor evaluation timeout; the rest go on the next tick.
DELIVERIES_PER_TICK = 20


@dg.sensor(minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def merchant_webhooks_sensor(db: WalletDatabase) -> dg.SkipReason:
    """Issue 8: payment timeline → webhook deliveries → signed POSTs; VPA changes go live."""
    settings = resources._settings()  # via the module so tests can point it elsewhere
    factory = db.factory()
    with transaction(factory) as session:
        enqueued = webhooks.scan_payment_events(session, now=utcnow())
    report = webhooks.deliver_due(
        factory,
        platform_kms(settings),
        config=MerchantConfig.from_settings(settings),
        now=utcnow,
        limit=DELIVERIES_PER_TICK,
    )
    with transaction(factory) as session:
        changed = profile.apply_due_vpa_changes(session, now=utcnow())
    return dg.SkipReason(
        f"enqueued {enqueued}; delivered {len(report.delivered)}, "
        f"retrying {len(report.retrying)}, failed {len(report.failed)}; "
        f"VPA changes applied {len(changed)}"
    )
