"""Pay now: ask for the settlement run of a just-confirmed custodial payment.

A custodial payment is confirmed inside the request that opens it, so the
vendor can be paid at once instead of at the next tick of the Dagster
payments-table sensor. ``app.extensions["settle_now"]`` (``payment_id ->
object``) overrides how; by default (outside tests) it is
:func:`pipelines.submit.submit_settlement_run`, which launches the
settlement job through Dagster's GraphQL API (settlement is idempotent, so
a duplicate run is harmless). It is called on a daemon thread after the
payment's transaction committed: the request never waits on it, and any
failure only logs, because the sensor picks up every confirmed payment
anyway (the safety net).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import current_app

from webapp.extensions import settings

log = logging.getLogger(__name__)

SettleNow = Callable[[str], object]


def _dagster_submit() -> SettleNow:
    s = settings()
    host, port = s.web_host, s.dagster_port

    def submit(payment_id: str) -> object:
        from pipelines.submit import submit_settlement_run

        return submit_settlement_run([payment_id], host=host, port=port)

    return submit


def kick_settlement(payment_id: str) -> bool:
    """Start the settle-now submission in the background; False when none is wired."""
    submit: SettleNow | None = current_app.extensions.get("settle_now")
    if submit is None:
        if current_app.testing:
            return False  # tests wire their own; never a stray run on a shared Dagster
        submit = _dagster_submit()

    def run() -> None:
        try:
            submit(payment_id)
        except Exception as exc:  # best effort: the payments sensor is the safety net
            log.warning(
                "settle-now for payment %s failed (%s); the sensor will settle it",
                payment_id,
                type(exc).__name__,
            )

    threading.Thread(target=run, name=f"settle-now-{payment_id[:8]}", daemon=True).start()
    return True
