"""The RazorpayX stand-in driven by the product's own client over real HTTP."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from sandbox.razorpayx.testing import start_razorpayx, stop_razorpayx
from wallet.config import Settings
from wallet.payouts import webhooks
from wallet.payouts.errors import (
    PayoutAuthError,
    PayoutIdempotencyConflict,
    PayoutInsufficientBalance,
    PayoutInvalidVpa,
    PayoutNotFound,
    PayoutOutcomeUnknown,
    WebhookSignatureInvalid,
)
from wallet.payouts.razorpayx import Payout, PayoutMode, RazorpayXClient
from wallet.payouts.status import PayoutStatus, advance


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll ``probe`` until it returns something truthy (bounded, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def rzx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    process, info = start_razorpayx(
        tmp_path_factory.mktemp("rzx"),
        extra_args=["--process-delay", "0.2", "--webhook-backoff", "0.05"],
    )
    try:
        yield info
    finally:
        stop_razorpayx(process)
    assert process.returncode is not None


@pytest.fixture
def admin(rzx: dict[str, Any]) -> Iterator[httpx.Client]:
    """Admin client; faults and webhook URLs are cleared after each test."""
    with httpx.Client(base_url=rzx["url"], trust_env=False, timeout=5) as client:
        yield client
        client.post("/__sandbox/faults", json={"clear": True})
        client.post("/__sandbox/webhooks", json={"urls": []})


@pytest.fixture
def client(rzx: dict[str, Any]) -> Iterator[RazorpayXClient]:
    creds = rzx["credentials"]
    with RazorpayXClient(
        rzx["url"],
        creds["key_id"],
        creds["key_secret"],
        creds["account_number"],
        timeout_s=3.0,
        backoff_s=0.05,
    ) as c:
        yield c


def key() -> str:
    return str(uuid.uuid4())


def vendor(client: RazorpayXClient, vpa: str) -> str:
    """Contact + VPA fund account; returns the fund account id."""
    contact = client.create_contact("Test Vendor", reference_id=f"m_{uuid.uuid4().hex[:8]}")
    return client.create_fund_account_vpa(contact.id, vpa).id


def settle(client: RazorpayXClient, payout: Payout, *statuses: PayoutStatus) -> Payout:
    found: Payout = wait_for(
        lambda: (p := client.get_payout(payout.id)).status in statuses and p,
        f"payout {payout.id} to reach {statuses}",
    )
    return found


def balance(admin: httpx.Client) -> int:
    value: int = admin.get("/__sandbox/balance").json()["balance"]
    return value


# -- health / settings ---------------------------------------------------------


def test_health_publishes_settings_matching_product_defaults(rzx: dict[str, Any]) -> None:
    settings = rzx["settings"]
    defaults = Settings.model_fields
    assert settings["razorpayx_url"] == rzx["url"]
    for name in ("razorpayx_key_id", "razorpayx_key_secret", "razorpayx_webhook_secret"):
        assert settings[name] == defaults[name].default.get_secret_value()
    assert settings["razorpayx_account_number"] == defaults["razorpayx_account_number"].default


# -- the happy path -------------------------------------------------------------


def test_payout_to_vpa_is_processed_with_utr(client: RazorpayXClient, admin: httpx.Client) -> None:
    before = client.get_balance_paise()
    fa = vendor(client, "ravi.kumar@okaxis")
    ref = f"pay_{uuid.uuid4().hex[:12]}"
    created = client.create_payout(
        amount_paise=12_345, fund_account_id=fa, reference_id=ref, idempotency_key=key()
    )
    assert created.status in {PayoutStatus.PROCESSING, PayoutStatus.PROCESSED}
    assert created.amount_paise == 12_345 and created.reference_id == ref
    done = settle(client, created, PayoutStatus.PROCESSED)
    assert done.utr is not None and len(done.utr) == 12
    assert done.status_details is not None
    assert client.get_balance_paise() == before - 12_345
    assert [p.id for p in client.find_payouts(ref)] == [created.id]


def test_composite_payout_creates_contact_and_fund_account(client: RazorpayXClient) -> None:
    ref = f"pay_{uuid.uuid4().hex[:12]}"
    payout = client.create_payout(
        amount_paise=500,
        vpa="shop.owner@okhdfc",
        contact_name="Shop Owner",
        reference_id=ref,
        idempotency_key=key(),
    )
    assert payout.fund_account_id.startswith("fa_")
    assert settle(client, payout, PayoutStatus.PROCESSED).utr


def test_utrs_are_unique(client: RazorpayXClient) -> None:
    fa = vendor(client, "many.payouts@okaxis")
    made = [
        client.create_payout(
            amount_paise=100, fund_account_id=fa, reference_id=f"u{i}", idempotency_key=key()
        )
        for i in range(5)
    ]
    utrs = {settle(client, p, PayoutStatus.PROCESSED).utr for p in made}
    assert len(utrs) == 5


def test_validate_vpa_returns_deterministic_registered_name(client: RazorpayXClient) -> None:
    good = client.validate_vpa("priya.sharma@oksbi", contact_name="Priya")
    assert good.valid and good.registered_name == "Priya Sharma"
    again = client.validate_vpa("priya.sharma@oksbi", contact_name="Priya")
    assert again.registered_name == good.registered_name
    assert again.fund_account_id == good.fund_account_id  # same contact + VPA → same account
    bad = client.validate_vpa("nobody.invalid@oksbi", contact_name="Nobody")
    assert not bad.valid and bad.account_status == "invalid" and bad.registered_name is None


# -- idempotency -----------------------------------------------------------------


def test_same_key_same_body_gives_one_payout(client: RazorpayXClient) -> None:
    fa = vendor(client, "idem.one@okaxis")
    ref, k = f"pay_{uuid.uuid4().hex[:12]}", key()
    first = client.create_payout(
        amount_paise=700, fund_account_id=fa, reference_id=ref, idempotency_key=k
    )
    settle(client, first, PayoutStatus.PROCESSED)
    second = client.create_payout(
        amount_paise=700, fund_account_id=fa, reference_id=ref, idempotency_key=k
    )
    assert second.id == first.id
    assert second.status == PayoutStatus.PROCESSED  # the latest state, not the original answer
    assert len(client.find_payouts(ref)) == 1


def test_concurrent_requests_with_one_key_make_one_payout(client: RazorpayXClient) -> None:
    fa = vendor(client, "idem.race@okaxis")
    ref, k = f"pay_{uuid.uuid4().hex[:12]}", key()

    def create(_: int) -> Payout:
        return client.create_payout(
            amount_paise=600, fund_account_id=fa, reference_id=ref, idempotency_key=k
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(create, range(8)))
    assert len({p.id for p in results}) == 1
    assert len(client.find_payouts(ref)) == 1


def test_same_key_different_body_is_bad_request(client: RazorpayXClient) -> None:
    fa = vendor(client, "idem.two@okaxis")
    ref, k = f"pay_{uuid.uuid4().hex[:12]}", key()
    client.create_payout(amount_paise=700, fund_account_id=fa, reference_id=ref, idempotency_key=k)
    with pytest.raises(PayoutIdempotencyConflict) as caught:
        client.create_payout(
            amount_paise=701, fund_account_id=fa, reference_id=ref, idempotency_key=k
        )
    assert caught.value.status == 400 and caught.value.provider_code == "BAD_REQUEST_ERROR"
    assert [p.amount_paise for p in client.find_payouts(ref)] == [700]


@pytest.mark.parametrize("header", [None, "abc", "x" * 37, "bad$key!", ""])
def test_missing_or_malformed_idempotency_key_is_400(
    rzx: dict[str, Any], client: RazorpayXClient, header: str | None
) -> None:
    fa = vendor(client, "idem.three@okaxis")
    ref = f"pay_{uuid.uuid4().hex[:12]}"
    creds = rzx["credentials"]
    body = {
        "account_number": creds["account_number"],
        "fund_account_id": fa,
        "amount": 1000,
        "currency": "INR",
        "mode": "UPI",
        "purpose": "payout",
        "reference_id": ref,
    }
    headers = {} if header is None else {"X-Payout-Idempotency": header}
    response = httpx.post(
        f"{rzx['url']}/v1/payouts",
        json=body,
        headers=headers,
        auth=(creds["key_id"], creds["key_secret"]),
        trust_env=False,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST_ERROR"
    assert error["field"] == "X-Payout-Idempotency"
    assert set(error) == {"code", "description", "source", "step", "reason", "metadata", "field"}
    assert client.find_payouts(ref) == []


def test_new_key_while_processing_creates_a_second_payout(client: RazorpayXClient) -> None:
    """The real hazard the product must avoid: a fresh key is a fresh payout."""
    fa = vendor(client, "hazard.slow@okaxis")
    ref = f"pay_{uuid.uuid4().hex[:12]}"
    first = client.create_payout(
        amount_paise=900, fund_account_id=fa, reference_id=ref, idempotency_key=key()
    )
    assert first.status == PayoutStatus.PROCESSING
    second = client.create_payout(
        amount_paise=900, fund_account_id=fa, reference_id=ref, idempotency_key=key()
    )
    assert second.id != first.id
    assert {p.id for p in client.find_payouts(ref)} == {first.id, second.id}


@pytest.mark.parametrize("fault", ["drop_next", "error_next", "reset_next"])
def test_ambiguous_outcome_is_retried_with_same_key(
    client: RazorpayXClient, admin: httpx.Client, fault: str
) -> None:
    fa = vendor(client, f"retry.{fault.replace('_', '')}@okaxis")
    ref = f"pay_{uuid.uuid4().hex[:12]}"
    admin.post("/__sandbox/faults", json={"match": "POST /v1/payouts", fault: 1}).raise_for_status()
    payout = client.create_payout(
        amount_paise=1_500, fund_account_id=fa, reference_id=ref, idempotency_key=key()
    )
    fired = admin.get("/__sandbox/faults").json()["fired"]
    assert fired[fault.removesuffix("_next")] == 1
    assert [p.id for p in client.find_payouts(ref)] == [payout.id]


def test_outcome_unknown_then_same_key_recovers_the_one_payout(
    rzx: dict[str, Any], admin: httpx.Client, client: RazorpayXClient
) -> None:
    fa = vendor(client, "lost.response@okaxis")
    ref, k = f"pay_{uuid.uuid4().hex[:12]}", key()
    admin.post("/__sandbox/faults", json={"match": "POST /v1/payouts", "drop_next": 10})
    creds = rzx["credentials"]
    impatient = RazorpayXClient(
        rzx["url"], creds["key_id"], creds["key_secret"], creds["account_number"],
        max_attempts=2, backoff_s=0.01,
    )  # fmt: skip
    with impatient, pytest.raises(PayoutOutcomeUnknown) as caught:
        impatient.create_payout(
            amount_paise=2_000, fund_account_id=fa, reference_id=ref, idempotency_key=k
        )
    assert caught.value.idempotency_key == k
    admin.post("/__sandbox/faults", json={"clear": True})
    recovered = client.create_payout(
        amount_paise=2_000, fund_account_id=fa, reference_id=ref, idempotency_key=k
    )
    assert [p.id for p in client.find_payouts(ref)] == [recovered.id]


# -- outcomes ----------------------------------------------------------------------


def test_failure_suffix_fails_and_refunds_the_float(
    client: RazorpayXClient, admin: httpx.Client
) -> None:
    before = balance(admin)
    fa = vendor(client, "vendor.fail@okaxis")
    payout = client.create_payout(
        amount_paise=3_000, fund_account_id=fa, reference_id="f1", idempotency_key=key()
    )
    failed = settle(client, payout, PayoutStatus.FAILED)
    assert failed.utr is None
    assert failed.status_details is not None and failed.status_details.reason
    assert failed.status_details.source == "beneficiary_bank"
    assert failed.status.money_returned
    wait_for(lambda: balance(admin) == before, "the failed amount to return to the float")


def test_reversal_follows_processed(client: RazorpayXClient, admin: httpx.Client) -> None:
    before = balance(admin)
    fa = vendor(client, "vendor.reverse@okaxis")
    payout = client.create_payout(
        amount_paise=4_000, fund_account_id=fa, reference_id="r1", idempotency_key=key()
    )
    processed = settle(client, payout, PayoutStatus.PROCESSED, PayoutStatus.REVERSED)
    reversed_ = settle(client, payout, PayoutStatus.REVERSED)
    assert reversed_.utr is not None and reversed_.status_details is not None
    assert advance(processed.status, reversed_.status) == PayoutStatus.REVERSED
    wait_for(lambda: balance(admin) == before, "the reversed amount to return to the float")


def test_reverse_next_knob_reverses_an_ordinary_payout(
    client: RazorpayXClient, admin: httpx.Client
) -> None:
    fa = vendor(client, "ordinary.vendor@okaxis")
    admin.post("/__sandbox/faults", json={"extra": {"reverse_next": 1}}).raise_for_status()
    payout = client.create_payout(
        amount_paise=800, fund_account_id=fa, reference_id="rn", idempotency_key=key()
    )
    assert settle(client, payout, PayoutStatus.REVERSED).utr
    assert admin.get("/__sandbox/faults").json()["extra"]["reverse_next"] == 0


def test_invalid_vpa_is_rejected_at_create_and_changes_nothing(
    client: RazorpayXClient, admin: httpx.Client
) -> None:
    before = balance(admin)
    fa = vendor(client, "ghost.invalid@okaxis")
    ref = f"pay_{uuid.uuid4().hex[:12]}"
    with pytest.raises(PayoutInvalidVpa) as caught:
        client.create_payout(
            amount_paise=1_000, fund_account_id=fa, reference_id=ref, idempotency_key=key()
        )
    assert caught.value.status == 400 and caught.value.code == "payout_invalid_vpa"
    assert client.find_payouts(ref) == []
    assert balance(admin) == before


def test_slow_vpa_waits_for_advance(client: RazorpayXClient, admin: httpx.Client) -> None:
    fa = vendor(client, "sleepy.slow@okaxis")
    payout = client.create_payout(
        amount_paise=1_000, fund_account_id=fa, reference_id="s1", idempotency_key=key()
    )
    assert client.get_payout(payout.id).status == PayoutStatus.PROCESSING
    bad = admin.post("/__sandbox/advance", json={"payout_id": payout.id, "status": "queued"})
    assert bad.status_code == 400  # no backwards transitions
    forced = admin.post("/__sandbox/advance", json={"payout_id": payout.id, "status": "processed"})
    assert forced.status_code == 200 and forced.json()["utr"]
    assert client.get_payout(payout.id).status == PayoutStatus.PROCESSED


def test_low_balance_queues_until_topup(
    rzx: dict[str, Any], client: RazorpayXClient, admin: httpx.Client
) -> None:
    contact = client.create_contact("Big Vendor")
    bank = client.create_fund_account_bank(
        contact.id, name="Big Vendor", ifsc="HDFC0000053", account_number="765432123456789"
    )
    too_much = balance(admin) + 1_000
    with pytest.raises(PayoutInsufficientBalance):
        client.create_payout(
            amount_paise=too_much, fund_account_id=bank.id, reference_id="big0",
            idempotency_key=key(), mode=PayoutMode.IMPS, queue_if_low_balance=False,
        )  # fmt: skip
    queued = client.create_payout(
        amount_paise=too_much, fund_account_id=bank.id, reference_id="big1",
        idempotency_key=key(), mode=PayoutMode.IMPS,
    )  # fmt: skip
    assert queued.status == PayoutStatus.QUEUED
    admin.post("/__sandbox/topup", json={"amount": 2_000}).raise_for_status()
    settle(client, queued, PayoutStatus.PROCESSED)
    assert balance(admin) == 1_000
    admin.post("/__sandbox/topup", json={"amount": too_much}).raise_for_status()  # for later tests


def test_unknown_payout_id_is_not_found(client: RazorpayXClient) -> None:
    with pytest.raises(PayoutNotFound) as caught:
        client.get_payout("pout_doesnotexist00")
    assert caught.value.status == 400 and caught.value.provider_code == "BAD_REQUEST_ERROR"


def test_only_queued_payouts_can_be_cancelled(
    rzx: dict[str, Any], client: RazorpayXClient, admin: httpx.Client
) -> None:
    creds = rzx["credentials"]
    auth = (creds["key_id"], creds["key_secret"])
    fa = vendor(client, "cancel.slow@okaxis")
    processing = client.create_payout(
        amount_paise=100, fund_account_id=fa, reference_id="c0", idempotency_key=key()
    )
    refused = httpx.post(f"{rzx['url']}/v1/payouts/{processing.id}/cancel", auth=auth)
    assert refused.status_code == 400
    contact = client.create_contact("Queue Vendor")
    bank = client.create_fund_account_bank(
        contact.id, name="Queue Vendor", ifsc="ICIC0000047", account_number="1234567890"
    )
    queued = client.create_payout(
        amount_paise=balance(admin) + 1, fund_account_id=bank.id, reference_id="c1",
        idempotency_key=key(), mode=PayoutMode.IMPS,
    )  # fmt: skip
    assert queued.status == PayoutStatus.QUEUED
    cancelled = httpx.post(f"{rzx['url']}/v1/payouts/{queued.id}/cancel", auth=auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.get_payout(queued.id).status == PayoutStatus.CANCELLED


def test_bad_credentials_are_refused(rzx: dict[str, Any]) -> None:
    bad = RazorpayXClient(rzx["url"], "rzp_test_sandbox", "wrong", "2323230000000000")
    with bad, pytest.raises(PayoutAuthError) as caught:
        bad.get_balance_paise()
    assert caught.value.status == 401 and "wrong" not in str(caught.value)


# -- webhooks -------------------------------------------------------------------------


@dataclass
class Receiver:
    """A tiny local webhook endpoint recording raw deliveries."""

    url: str
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_reference: str | None = None  # answer 500 once to the first event of this payout
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_payout(self, payout_id: str) -> list[tuple[dict[str, str], dict[str, Any], bytes]]:
        with self.lock:
            items = list(self.deliveries)
        out = []
        for headers, body in items:
            event = json.loads(body)
            if event["payload"]["payout"]["entity"]["id"] == payout_id:
                out.append((headers, event, body))
        return out


@pytest.fixture
def receiver(admin: httpx.Client) -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reference = json.loads(body)["payload"]["payout"]["entity"]["reference_id"]
            with state.lock:
                state.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = state.fail_reference is not None and reference == state.fail_reference
                if failing:
                    state.fail_reference = None
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/razorpayx"
    admin.post("/__sandbox/webhooks", json={"url": state.url}).raise_for_status()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _events(receiver: Receiver, payout_id: str, name: str, count: int = 1) -> list[Any]:
    return wait_for(
        lambda: (
            (found := [(h, e) for h, e, _ in receiver.for_payout(payout_id) if e["event"] == name])
            and len(found) >= count
            and found
        ),
        f"{count} x {name} for {payout_id}",
    )


def test_webhook_signature_verifies_and_tampering_fails(
    rzx: dict[str, Any], client: RazorpayXClient, receiver: Receiver
) -> None:
    secret = rzx["credentials"]["webhook_secret"]
    fa = vendor(client, "hook.vendor@okaxis")
    payout = client.create_payout(
        amount_paise=1_234, fund_account_id=fa, reference_id="w1", idempotency_key=key()
    )
    _events(receiver, payout.id, "payout.processed")
    headers, _, raw = next(
        item for item in receiver.for_payout(payout.id) if item[1]["event"] == "payout.processed"
    )
    event = webhooks.verify_and_parse(raw, headers, secret)
    assert event.event == "payout.processed" and event.payout is not None
    assert event.payout.id == payout.id and event.payout.status == PayoutStatus.PROCESSED
    assert event.payout.utr and event.event_id.startswith("evt_")
    assert event.account_id and event.account_id.startswith("acc_")
    tampered = raw.replace(b'"amount":1234', b'"amount":9999')
    assert tampered != raw
    with pytest.raises(WebhookSignatureInvalid):
        webhooks.verify_and_parse(tampered, headers, secret)
    with pytest.raises(WebhookSignatureInvalid):
        webhooks.verify_and_parse(raw, headers, rzx["credentials"]["key_secret"])
    ids = [h["x-razorpay-event-id"] for h, _, _ in receiver.for_payout(payout.id)]
    assert len(ids) == len(set(ids))  # one id per event without the duplicate knob


def test_webhook_duplicate_knob_sends_same_event_id_twice(
    client: RazorpayXClient, admin: httpx.Client, receiver: Receiver
) -> None:
    admin.post("/__sandbox/faults", json={"extra": {"webhook_duplicate": True}})
    fa = vendor(client, "dup.vendor@okaxis")
    payout = client.create_payout(
        amount_paise=1_111, fund_account_id=fa, reference_id="d1", idempotency_key=key()
    )
    processed = _events(receiver, payout.id, "payout.processed", count=2)
    ids = {h["x-razorpay-event-id"] for h, _ in processed}
    assert len(processed) == 2 and len(ids) == 1


def test_webhook_retried_after_non_2xx(
    client: RazorpayXClient, admin: httpx.Client, receiver: Receiver
) -> None:
    fa = vendor(client, "retry.hook@okaxis")
    ref = f"pay_{uuid.uuid4().hex[:12]}"
    receiver.fail_reference = ref
    payout = client.create_payout(
        amount_paise=1_212, fund_account_id=fa, reference_id=ref, idempotency_key=key()
    )
    initiated = _events(receiver, payout.id, "payout.initiated", count=2)
    assert len({h["x-razorpay-event-id"] for h, _ in initiated}) == 1
    log = admin.get("/__sandbox/webhooks").json()["deliveries"]
    attempts = [d for d in log if d.get("event_id") == initiated[0][0]["x-razorpay-event-id"]]
    assert [d["status"] for d in attempts] == [500, 200]


def test_webhook_reorder_delivers_processed_first_and_status_stays_forward(
    rzx: dict[str, Any], client: RazorpayXClient, admin: httpx.Client, receiver: Receiver
) -> None:
    admin.post("/__sandbox/faults", json={"extra": {"webhook_reorder": True}})
    fa = vendor(client, "reorder.vendor@okaxis")
    payout = client.create_payout(
        amount_paise=1_313, fund_account_id=fa, reference_id="o1", idempotency_key=key()
    )
    _events(receiver, payout.id, "payout.initiated")
    delivered = receiver.for_payout(payout.id)
    assert [e["event"] for _, e, _ in delivered] == ["payout.processed", "payout.initiated"]
    status = PayoutStatus.PENDING
    for headers, _, raw in delivered:
        event = webhooks.verify_and_parse(raw, headers, rzx["credentials"]["webhook_secret"])
        assert event.payout is not None
        status = advance(status, event.payout.status)
    assert status == PayoutStatus.PROCESSED


def test_webhook_drop_knob_loses_events_but_polling_sees_the_truth(
    client: RazorpayXClient, admin: httpx.Client, receiver: Receiver
) -> None:
    admin.post("/__sandbox/faults", json={"extra": {"webhook_drop": True}})
    fa = vendor(client, "drop.vendor@okaxis")
    payout = client.create_payout(
        amount_paise=1_414, fund_account_id=fa, reference_id="x1", idempotency_key=key()
    )
    settle(client, payout, PayoutStatus.PROCESSED)

    def dropped() -> list[Any]:
        log = admin.get("/__sandbox/webhooks").json()["deliveries"]
        return [d for d in log if d.get("payout_id") == payout.id and d.get("dropped")]

    assert len(wait_for(lambda: len(dropped()) >= 2 and dropped(), "two dropped events")) == 2
    assert receiver.for_payout(payout.id) == []


def test_webhook_urls_must_be_loopback(admin: httpx.Client) -> None:
    response = admin.post("/__sandbox/webhooks", json={"url": "https://example.com/hook"})
    assert response.status_code == 400
    assert admin.get("/__sandbox/webhooks").json()["urls"] == []
