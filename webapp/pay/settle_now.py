"""Pay now: ask for the settlement run of a just-confirmed custodial payment.

A custodial payment is confirmed inside the request that opens it, so the
vendor can be paid at once instead of at the next tick of the Dagster
payments-table sensor. ``app.extensions["settle_now"]`` (``payment_id ->
object``) overrides how; by default (outside tests) it is
:func:`pipelines.submit.submit_settlement_run`, which launches the
settlement job through Dagster's GraphQL API (settlement is idempotent, so
a duplicate run is harmless).

The request only puts the payment id on this process's queue, after the
payment's transaction committed; one background sender per app submits
whatever has gathered since its last submission as one run (the job takes
a list of payment ids), so a burst of payments costs one launch, not one
each, and the request never waits on Dagster. Any failure only logs,
because the sensor picks up every confirmed payment anyway (the safety
net), which also covers ids still queued when the process stops. After a
failure the sender waits (:data:`RETRY_AFTER_S`, doubling to
:data:`RETRY_AFTER_MAX_S`) before it tries again with everything gathered
meanwhile: with Dagster away it used to attempt one launch per payment,
each failing, and say nothing.

With ``settlement_worker`` set (``taskforce run`` sets it), nothing is
submitted: the warm worker (:mod:`wallet.settlement.worker`) finds the
confirmed payment within a quarter of a second, without a process start.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app

from webapp.extensions import settings

log = logging.getLogger(__name__)

SettleNow = Callable[[str], object]
SettleMany = Callable[[list[str]], object]

MAX_BATCH = 100  # payment ids per submitted run
RETRY_AFTER_S = 1.0  # the first pause after a failed submission
RETRY_AFTER_MAX_S = 30.0  # well under the sensor's own pace as the safety net


def _dagster_submit() -> SettleMany:
    s = settings()
    host, port = s.web_host, s.dagster_port

    def submit(payment_ids: list[str]) -> object:
        from pipelines.submit import submit_settlement_run

        run_id = submit_settlement_run(payment_ids, host=host, port=port)
        if run_id is None:  # Dagster is away: a failure, so the sender backs off
            raise ConnectionError(f"no Dagster webserver answered at {host}:{port}")
        return run_id

    return submit


def _one_by_one(submit: SettleNow) -> SettleMany:
    def each(payment_ids: list[str]) -> None:
        for payment_id in payment_ids:
            submit(payment_id)

    return each


class SettleNowQueue:
    """Payment ids waiting for their settle-now submission, and the thread that sends them."""

    def __init__(
        self,
        submit: SettleMany,
        *,
        source: object = None,
        max_batch: int = MAX_BATCH,
        retry_after_s: float = RETRY_AFTER_S,
        retry_after_max_s: float = RETRY_AFTER_MAX_S,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.submit = submit
        self.source = source  # the ``settle_now`` override it was built for (None: Dagster)
        self.max_batch = max_batch
        self.retry_after_s = retry_after_s
        self.retry_after_max_s = retry_after_max_s
        self._sleep = sleep
        self._ids: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._sender: threading.Thread | None = None
        self._pid = 0

    def put(self, payment_id: str) -> None:
        """Queue ``payment_id``; the sender thread starts on first use (in this process)."""
        self._ids.put(payment_id)
        with self._lock:
            if self._sender is None or self._pid != os.getpid() or not self._sender.is_alive():
                self._pid = os.getpid()
                self._sender = threading.Thread(target=self._run, name="settle-now", daemon=True)
                self._sender.start()

    def _batch(self) -> list[str]:
        ids = [self._ids.get()]
        while len(ids) < self.max_batch:
            try:
                ids.append(self._ids.get_nowait())
            except queue.Empty:
                break
        return ids

    def _run(self) -> None:
        pause = 0.0
        while True:
            ids = self._batch()
            try:
                self.submit(ids)
            except Exception as exc:  # best effort: the payments sensor is the safety net
                pause = min(max(2 * pause, self.retry_after_s), self.retry_after_max_s)
                log.warning(
                    "settle-now for %d payment(s) failed (%s); next try in %.0f s, and the "
                    "sensor settles them anyway",
                    len(ids),
                    type(exc).__name__,
                    pause,
                )
                self._sleep(pause)  # ids queued meanwhile go in the next batch
            else:
                pause = 0.0


def _queue(app: Flask) -> SettleNowQueue | None:
    found: SettleNowQueue | None = app.extensions.get("settle_now_queue")
    submit: SettleNow | None = app.extensions.get("settle_now")
    if found is not None and found.source is submit:
        return found
    if submit is None:
        if app.testing:
            return None  # tests wire their own; never a stray run on a shared Dagster
        if settings().settlement_worker:
            return None  # the warm worker polls for confirmed payments: no run to launch
        many = _dagster_submit()
    else:
        many = _one_by_one(submit)
    made = SettleNowQueue(many, source=submit)
    app.extensions["settle_now_queue"] = made
    return made


_QUEUE_LOCK = threading.Lock()


def kick_settlement(payment_id: str) -> bool:
    """Queue the settle-now submission of ``payment_id``; False when none is wired."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with _QUEUE_LOCK:
        found = _queue(app)
    if found is None:
        return False
    found.put(payment_id)
    return True
