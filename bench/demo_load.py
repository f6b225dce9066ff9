"""The demo payer paying the demo vendor through the REST API, for the footprint's load phase.

What a newcomer does on ``make run`` (sign in as the demo payer, scan the
demo vendor's QR, pay in SOL from the custodial balance), done by
``httpx`` against the web app ``taskforce run`` serves: a token, then a
quote and a payment per scan, spaced like a queue at a tea stall.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx

from taskforce.demo import DEMO_PAYER, DEMO_VENDOR_VPA

# The demo vendor's printed QR (the README's first five minutes), ₹250.
DEMO_QR = f"upi://pay?pa={DEMO_VENDOR_VPA}&pn=Ramu%20Chai%20Stall&am=250.00&cu=INR"
# Refusals a newcomer just after the start waits out: the demo deposits are still being
# credited, or the first rates have not landed yet (quotes pause until they do).
START_UP_REFUSALS = ("insufficient_funds", "rate_stale")


@dataclass
class DemoPayer:
    base: str
    payments: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    final_statuses: dict[str, str] = field(default_factory=dict)
    final_paid: int = 0
    _token: str = ""

    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30, trust_env=False)

    def sign_in(self) -> None:
        with self._client() as client:
            reply = client.post(
                "/api/v1/auth/token",
                json={"email": DEMO_PAYER.email, "password": DEMO_PAYER.password},
            )
        reply.raise_for_status()
        self._token = reply.json()["token"]

    def pay_once(self, asset: str = "SOL") -> str:
        """Scan, quote and pay once; the payment id (raises on any refusal)."""
        with self._client() as client:
            quote = client.post("/api/v1/quotes", json={"upi_uri": DEMO_QR, "asset": asset})
            if quote.status_code != 201:
                raise RuntimeError(f"quote: {quote.status_code} {quote.text[:300]}")
            payment = client.post(
                "/api/v1/payments",
                json={"quote_id": quote.json()["id"], "source": "custodial"},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            if payment.status_code != 201:
                raise RuntimeError(f"payment: {payment.status_code} {payment.text[:300]}")
            return str(payment.json()["id"])

    def pay_when_funded(self, timeout_s: float) -> str:
        """The first payment, retried through :data:`START_UP_REFUSALS` for ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.pay_once()
            except RuntimeError as exc:
                transient = any(code in str(exc) for code in START_UP_REFUSALS)
                if not transient or time.monotonic() > deadline:
                    raise
            time.sleep(1.0)

    def statuses(self) -> dict[str, str]:
        with self._client() as client:
            return {
                pid: str(client.get(f"/api/v1/payments/{pid}").json().get("status"))
                for pid in self.payments
            }

    def vendors_paid(self) -> int:
        """Payments whose vendor payout went through (``vendor_paid`` in the API)."""
        with self._client() as client:
            return sum(
                1
                for pid in self.payments
                if client.get(f"/api/v1/payments/{pid}").json().get("vendor_paid")
            )


def pay_in_background(payer: DemoPayer, count: int, spacing_s: float) -> threading.Thread:
    """Pay ``count`` times, one every ``spacing_s``, in a thread (errors are collected)."""

    def loop() -> None:
        for _ in range(count):
            started = time.monotonic()
            try:
                payer.payments.append(payer.pay_once())
            except (RuntimeError, httpx.HTTPError) as exc:
                payer.errors.append(str(exc))
            time.sleep(max(0.0, spacing_s - (time.monotonic() - started)))

    thread = threading.Thread(target=loop, name="demo-payer")
    thread.start()
    return thread
