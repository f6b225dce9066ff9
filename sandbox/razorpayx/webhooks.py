"""Signed webhook delivery for the RazorpayX stand-in.

Follows Razorpay's "Webhooks" docs: each event is POSTed as JSON to every
configured URL with ``X-Razorpay-Signature`` = hex HMAC-SHA256 of the raw
body keyed with the *webhook* secret, and ``x-razorpay-event-id`` unique per
event (a redelivery of the same event keeps its id). Non-2xx answers and
connection failures are retried with exponential backoff, a bounded number
of times (Razorpay retries for 24 h; the sandbox compresses that).

Fault knobs (``FaultConfig.extra``, read when an event is emitted):
- ``webhook_duplicate``: true → every event is delivered twice (same id).
- ``webhook_reorder``: true → a payout's events are held until it reaches a
  final state (or ``hold_s`` passes), then delivered newest first.
- ``webhook_drop``: true → every event is lost; an integer N → the next N.

Only loopback URLs are accepted, so the sandbox never reaches the network.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import ipaddress
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("sandbox.razorpayx.webhooks")


class WebhookUrlError(ValueError):
    """A webhook URL that is not an http(s) URL on loopback."""


def check_loopback_url(url: str) -> str:
    """Return ``url`` if it is http(s) on a loopback host, else raise."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WebhookUrlError(f"webhook url must be http(s)://host[:port]/path, got {url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise WebhookUrlError(f"the sandbox only delivers to loopback hosts, not {host!r}")
    return url


def sign(body: bytes, secret: str) -> str:
    """Razorpay's webhook signature: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    event_id: str = field(compare=False)
    event: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(compare=False, default=1)


@dataclass
class _Held:
    since: float
    events: list[tuple[str, str, bytes]] = field(default_factory=list)


class WebhookDispatcher:
    """Queues, signs, delivers and retries webhook events on one thread."""

    def __init__(
        self,
        *,
        secret: str,
        account_id: str,
        new_event_id: Callable[[], str],
        knob: Callable[[str], bool],
        urls: list[str] | None = None,
        max_attempts: int = 5,
        backoff_s: float = 0.2,
        hold_s: float = 5.0,
        timeout_s: float = 2.0,
    ) -> None:
        self._secret = secret
        self._account_id = account_id
        self._new_event_id = new_event_id
        self._knob = knob  # consumes a fault knob; True when it fires
        self._urls = [check_loopback_url(u) for u in urls or []]
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._hold_s = hold_s
        self._timeout_s = timeout_s
        self._cond = threading.Condition()
        self._heap: list[_Delivery] = []
        self._held: dict[str, _Held] = {}
        self._seq = itertools.count()
        self._log: list[dict[str, Any]] = []
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="razorpayx-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    @property
    def urls(self) -> list[str]:
        with self._cond:
            return list(self._urls)

    def set_urls(self, urls: list[str]) -> None:
        checked = [check_loopback_url(u) for u in urls]
        with self._cond:
            self._urls = checked

    def deliveries(self) -> list[dict[str, Any]]:
        """What was attempted so far (for tests and ``GET /__sandbox/webhooks``)."""
        with self._cond:
            return [dict(entry) for entry in self._log]

    def emit(self, event: str, payout: dict[str, Any], *, final: bool) -> str | None:
        """Queue ``event`` for ``payout`` (a snapshot of the entity); return the event id."""
        if self._knob("webhook_drop"):
            with self._cond:
                self._log.append({"event": event, "payout_id": payout["id"], "dropped": True})
            return None
        event_id = self._new_event_id()
        envelope = {
            "entity": "event",
            "account_id": self._account_id,
            "event": event,
            "contains": ["payout"],
            "payload": {"payout": {"entity": payout}},
            "created_at": int(time.time()),
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        copies = 2 if self._knob("webhook_duplicate") else 1
        with self._cond:
            items = [(event_id, event, body)] * copies
            if self._knob("webhook_reorder") or payout["id"] in self._held:
                held = self._held.setdefault(payout["id"], _Held(time.monotonic()))
                held.events.extend(items)
                if final:
                    self._release(payout["id"])
            else:
                for item in items:
                    self._schedule(*item)
            self._cond.notify_all()
        return event_id

    # -- internals (called with self._cond held unless noted) ---------------

    def _schedule(self, event_id: str, event: str, body: bytes) -> None:
        now = time.monotonic()
        for url in self._urls:
            heapq.heappush(self._heap, _Delivery(now, next(self._seq), url, event_id, event, body))

    def _release(self, payout_id: str) -> None:
        held = self._held.pop(payout_id, None)
        if held is not None:
            for item in reversed(held.events):
                self._schedule(*item)

    def _run(self) -> None:
        client = httpx.Client(timeout=self._timeout_s, trust_env=False)
        try:
            while True:
                with self._cond:
                    delivery = self._next_due()
                    if delivery is None:
                        return
                self._deliver(client, delivery)
        finally:
            client.close()

    def _next_due(self) -> _Delivery | None:
        while not self._stopped:
            now = time.monotonic()
            for payout_id, held in list(self._held.items()):
                if now - held.since >= self._hold_s:
                    self._release(payout_id)
            if self._heap and self._heap[0].due <= now:
                return heapq.heappop(self._heap)
            waits = [self._heap[0].due - now] if self._heap else []
            waits += [held.since + self._hold_s - now for held in self._held.values()]
            self._cond.wait(timeout=max(min(waits), 0.001) if waits else None)
        return None

    def _deliver(self, client: httpx.Client, delivery: _Delivery) -> None:
        """POST one delivery (without the lock held) and schedule a retry if it failed."""
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": sign(delivery.body, self._secret),
            "x-razorpay-event-id": delivery.event_id,
            "User-Agent": "Razorpay-Webhook/v1 (sandbox)",
        }
        status: int | None = None
        try:
            status = client.post(delivery.url, content=delivery.body, headers=headers).status_code
        except httpx.HTTPError as exc:
            log.info("webhook %s to %s failed: %s", delivery.event, delivery.url, exc)
        ok = status is not None and 200 <= status < 300
        with self._cond:
            self._log.append(
                {
                    "event_id": delivery.event_id,
                    "event": delivery.event,
                    "url": delivery.url,
                    "attempt": delivery.attempt,
                    "status": status,
                }
            )
            if not ok and delivery.attempt < self._max_attempts:
                delay = self._backoff_s * 2 ** (delivery.attempt - 1)
                delivery.due = time.monotonic() + delay
                delivery.seq = next(self._seq)
                delivery.attempt += 1
                heapq.heappush(self._heap, delivery)
                self._cond.notify_all()
