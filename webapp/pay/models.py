"""Tables of the payer app: Web Push subscriptions.

The model lives in :mod:`wallet.notifications.models` (the Dagster side
sends pushes too, and wallet/ never imports webapp/); it is re-exported
here so Alembic's env.py and existing imports keep working.
"""

from __future__ import annotations

from wallet.notifications.models import PushSubscription

__all__ = ["PushSubscription"]
