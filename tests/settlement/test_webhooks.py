"""RazorpayX webhooks: duplicated, reordered, tampered (rejected), missed (polling)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import custodial_payment, deps_for
from wallet.db.models import AuditLog, JournalEntry, Payment, Payout, PayoutStatus
from wallet.ledger import check_invariants
from wallet.payments.states import PaymentStatus
from wallet.payouts.errors import WebhookSignatureInvalid
from wallet.settlement.models import PayoutWebhookEvent
from wallet.settlement.service import refresh_payout, settle_pass
from wallet.settlement.webhooks import WebhookResult, handle_payout_webhook


class Receiver:
    """A loopback endpoint that hands every delivery to the webhook handler."""

    def __init__(self, factory: sessionmaker[Session], secret: str) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        self.results: list[WebhookResult] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.deliveries.append((body, headers))
                try:
                    outer.results.append(handle_payout_webhook(factory, body, headers, secret))
                    self.send_response(200)
                except WebhookSignatureInvalid:
                    self.send_response(400)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/razorpayx"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(factory: sessionmaker[Session], rzp: dict[str, Any]) -> Iterator[Receiver]:
    r = Receiver(factory, rzp["credentials"]["webhook_secret"])
    admin = rzp["url"] + "/__sandbox"
    httpx.post(f"{admin}/webhooks", json={"url": r.url}, trust_env=False).raise_for_status()
    yield r
    httpx.post(f"{admin}/webhooks", json={"urls": []}, trust_env=False)
    httpx.post(f"{admin}/faults", json={"clear": True}, trust_env=False)
    r.server.shutdown()


def _knobs(rzp: dict[str, Any], **extra: Any) -> None:
    httpx.post(
        rzp["url"] + "/__sandbox/faults", json={"extra": extra}, trust_env=False
    ).raise_for_status()


def _wait(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def _status(factory: sessionmaker[Session], pid: str) -> PaymentStatus:
    with factory() as s:
        return s.get_one(Payment, pid).status


def test_duplicated_and_reordered_webhooks_apply_once_and_only_forward(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: Any, receiver: Receiver
) -> None:
    _knobs(rzp, webhook_duplicate=True, webhook_reorder=True)
    deps = deps_for(factory, rzp, venues, payout_wait_seconds=0.0)  # webhooks only: no polling
    pid = custodial_payment(factory)
    settle_pass(deps, [pid], sell=False)
    _wait(lambda: _status(factory, pid) is PaymentStatus.PAID_OUT)
    _wait(lambda: len(receiver.results) >= 4)  # initiated + processed, each twice
    assert WebhookResult.DUPLICATE in receiver.results
    assert WebhookResult.STALE in receiver.results  # "initiated" arrived after "processed"
    with factory() as s:
        payout = s.scalars(select(Payout).where(Payout.payment_id == pid)).one()
        assert payout.status is PayoutStatus.PROCESSED and payout.utr
        ids = {h["x-razorpay-event-id"] for _b, h in receiver.deliveries}
        assert s.scalar(select(func.count(PayoutWebhookEvent.id))) == len(ids)
        processed = select(func.count(JournalEntry.id)).where(
            JournalEntry.kind == "payout.processed"
        )
        assert s.scalar(processed) == 1
        check_invariants(s)


def test_a_tampered_webhook_is_rejected_and_leaves_no_trace(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: Any, receiver: Receiver
) -> None:
    deps = deps_for(factory, rzp, venues, payout_wait_seconds=0.0)
    pid = custodial_payment(factory, vpa="ravi.slow@okaxis")  # stays processing
    settle_pass(deps, [pid], sell=False)
    _wait(lambda: len(receiver.deliveries) >= 1)
    body, headers = receiver.deliveries[0]
    forged = body.replace(b'"processing"', b'"processed"').replace(b"initiated", b"processed")
    headers = {**headers, "x-razorpay-event-id": "evt_forged_1"}
    with factory() as s:
        before = (
            s.scalar(select(func.count(PayoutWebhookEvent.id))),
            s.scalar(select(func.count(AuditLog.id))),
        )
    secret = rzp["credentials"]["webhook_secret"]
    for bad_body, bad_headers in [
        (forged, headers),
        (body, {**headers, "x-razorpay-signature": "0" * 64}),
        (body, {k: v for k, v in headers.items() if k != "x-razorpay-signature"}),
    ]:
        with pytest.raises(WebhookSignatureInvalid):
            handle_payout_webhook(factory, bad_body, bad_headers, secret)
    with factory() as s:
        after = (
            s.scalar(select(func.count(PayoutWebhookEvent.id))),
            s.scalar(select(func.count(AuditLog.id))),
        )
        assert after == before
        assert s.scalars(select(Payout.status).where(Payout.payment_id == pid)).one() in (
            PayoutStatus.PROCESSING,
            PayoutStatus.CREATED,
        )
    assert _status(factory, pid) is PaymentStatus.SETTLING


def test_missed_webhooks_are_caught_up_by_polling(
    factory: sessionmaker[Session], rzp: dict[str, Any], venues: Any, receiver: Receiver
) -> None:
    _knobs(rzp, webhook_drop=True)
    deps = deps_for(factory, rzp, venues, payout_wait_seconds=0.0)
    pid = custodial_payment(factory)
    settle_pass(deps, [pid], sell=False)
    time.sleep(1.0)  # the payout is processed at RazorpayX by now; we heard nothing
    assert receiver.results == []
    assert _status(factory, pid) is PaymentStatus.SETTLING
    with factory() as s:
        key = s.scalars(select(Payout.idempotency_key).where(Payout.payment_id == pid)).one()

    def polled() -> bool:
        refresh_payout(deps, key)
        return _status(factory, pid) is PaymentStatus.PAID_OUT

    _wait(polled)
    assert len(deps.payouts.find_payouts(pid)) == 1
