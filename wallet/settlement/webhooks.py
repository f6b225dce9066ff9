"""RazorpayX payout webhooks, framework-free: verify, dedupe, apply forward.

The web app's route (``POST /webhooks/razorpayx``) hands the raw body and
headers to :func:`handle_payout_webhook` and answers 200 for any result,
or 400 for :class:`~wallet.payouts.errors.WebhookSignatureInvalid` /
``WebhookPayloadInvalid`` (nothing is written for those: G6).

1. The signature is checked over the exact bytes before parsing.
2. The event id is inserted under a unique constraint in the same
   transaction as its effect: a redelivery is a ``duplicate`` no-op.
3. The status is applied through :func:`apply_payout_status` (forward only),
   so reordered events cannot move a payout back. Missed events are
   caught up by polling (:func:`wallet.settlement.service.refresh_payout`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.alerts import AlertSink
from wallet.db.models.settlement import Payout
from wallet.db.session import transaction
from wallet.payouts.webhooks import verify_and_parse
from wallet.settlement.models import PayoutWebhookEvent
from wallet.settlement.payouts import apply_payout_status


class WebhookResult(enum.StrEnum):
    APPLIED = "applied"  # moved a payout forward
    STALE = "stale"  # known payout, nothing new (older or repeated status)
    DUPLICATE = "duplicate"  # this event id was already handled
    IGNORED = "ignored"  # not a payout event, or not one of our payouts


def _our_payout(session: Session, provider_id: str, attempt_key: str | None) -> Payout | None:
    row = session.scalars(
        select(Payout).where(Payout.provider_payout_id == provider_id).with_for_update()
    ).one_or_none()
    if row is None and attempt_key:
        # The webhook can beat our storing of the create-payout answer.
        row = session.scalars(
            select(Payout).where(Payout.idempotency_key == attempt_key).with_for_update()
        ).one_or_none()
    return row


def handle_payout_webhook(
    factory: sessionmaker[Session],
    raw_body: bytes,
    headers: Mapping[str, str],
    secret: str,
    alerts: AlertSink | None = None,
) -> WebhookResult:
    """Verify and apply one delivery; raises before touching the database if forged."""
    event = verify_and_parse(raw_body, headers, secret)
    remote = event.payout
    with transaction(factory) as session:
        try:
            with session.begin_nested():
                row = PayoutWebhookEvent(
                    event_id=event.event_id,
                    event=event.event,
                    provider_payout_id=remote.id if remote else None,
                    status=remote.status.value if remote else None,
                )
                session.add(row)
                session.flush()
        except IntegrityError:
            return WebhookResult.DUPLICATE
        if remote is None:
            return WebhookResult.IGNORED
        payout = _our_payout(session, remote.id, remote.notes.get("attempt"))
        if payout is None:
            return WebhookResult.IGNORED
        applied = apply_payout_status(session, payout, remote)
        row.applied = applied.changed
    if alerts is not None and applied.queued:
        from wallet.alerts import Alert, Severity

        alerts.fire(
            Alert(
                "float_low",
                "float_low:razorpayx",
                Severity.CRITICAL,
                "payouts are queueing at RazorpayX: the INR float is too low",
                {"provider_payout_id": remote.id},
            )
        )
    return WebhookResult.APPLIED if applied.changed else WebhookResult.STALE
