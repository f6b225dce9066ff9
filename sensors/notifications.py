"""Web Push to payers (issue 7): vendor paid, deposit credited.

Each tick queues one outbox message per (user, event) from the payment
timeline and the credits table, then pushes the due ones. Claims are
leased (``wallet.db.claims``), so a second daemon or a crashed tick never
pushes the same message twice at once.
"""

from __future__ import annotations

import dagster as dg

from pipelines import resources
from pipelines.resources import WalletDatabase
from wallet.db.base import utcnow
from wallet.db.claims import new_worker_id
from wallet.db.session import transaction
from wallet.notifications import events

PUSHES_PER_TICK = 50


@dg.sensor(minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def push_notifications_sensor(db: WalletDatabase) -> dg.SkipReason:
    """Queue and send payers' push notifications for paid-out payments and deposits."""
    settings = resources._settings()  # via the module so tests can point it elsewhere
    factory = db.factory()
    with transaction(factory) as session:
        queued = events.scan(session, now=utcnow())
    report = events.deliver_due(
        factory,
        settings,
        worker_id=new_worker_id("push"),
        now=utcnow,
        limit=PUSHES_PER_TICK,
    )
    return dg.SkipReason(
        f"queued {queued}; sent {len(report.sent)}, retrying {len(report.retrying)}, "
        f"dead {len(report.dead)}"
    )
