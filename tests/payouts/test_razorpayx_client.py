"""Client-side guarantees that hold before (or without) any answer from RazorpayX.

Everything here talks to a closed loopback port: a request either is never
sent (pre-validation) or is refused by the kernel (connection errors).
"""

from __future__ import annotations

import socket

import pytest

from wallet.payouts.errors import (
    PayoutError,
    PayoutInvalidRequest,
    PayoutInvalidVpa,
    PayoutOutcomeUnknown,
)
from wallet.payouts.razorpayx import Payout, RazorpayXClient


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens once the socket is closed


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> RazorpayXClient:
    return RazorpayXClient(
        f"http://127.0.0.1:{closed_port()}",
        "rzp_test_x",
        "secret-never-shown",
        "2323230000000000",
        max_attempts=3,
        backoff_s=0.01,
        sleep=sleeps.append,
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"amount_paise": 99}, "invalid_amount"),
        ({"amount_paise": 100.0}, "invalid_amount"),
        ({"amount_paise": True}, "invalid_amount"),
        ({"idempotency_key": "abc"}, "payout_invalid_idempotency_key"),
        ({"idempotency_key": "k" * 37}, "payout_invalid_idempotency_key"),
        ({"idempotency_key": "no/slashes"}, "payout_invalid_idempotency_key"),
        ({"vpa": "a.b@okaxis"}, "payout_invalid_request"),  # both vpa and fund_account_id
    ],
)
def test_bad_input_is_refused_before_any_request(
    client: RazorpayXClient, sleeps: list[float], kwargs: dict[str, object], code: str
) -> None:
    args: dict[str, object] = {
        "amount_paise": 1000,
        "reference_id": "p_1",
        "idempotency_key": "attempt-1",
        "fund_account_id": "fa_1",
        **kwargs,
    }
    with pytest.raises(PayoutInvalidRequest) as caught:
        client.create_payout(**args)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert sleeps == []  # nothing was attempted, so nothing was retried


def test_malformed_vpa_is_refused_locally(client: RazorpayXClient) -> None:
    with pytest.raises(PayoutInvalidVpa):
        client.create_fund_account_vpa("cont_1", "not-a-vpa")


def test_unreachable_provider_retries_then_reports_unknown_outcome(
    client: RazorpayXClient, sleeps: list[float]
) -> None:
    with pytest.raises(PayoutOutcomeUnknown) as caught:
        client.create_payout(
            amount_paise=1000,
            reference_id="p_1",
            idempotency_key="attempt-1",
            fund_account_id="fa_1",
        )
    assert caught.value.idempotency_key == "attempt-1"
    assert caught.value.code == "payout_outcome_unknown"
    assert sleeps == [0.01, 0.02]  # three attempts, exponential backoff, bounded
    assert "secret-never-shown" not in str(caught.value) + repr(client)


def test_reads_report_unavailable_rather_than_unknown(client: RazorpayXClient) -> None:
    with pytest.raises(PayoutError) as caught:
        client.get_payout("pout_1")
    assert caught.value.code == "payout_provider_unavailable"


def test_payout_entity_with_float_amount_is_refused() -> None:
    entity = {
        "id": "pout_1",
        "status": "processing",
        "amount": 10.5,
        "currency": "INR",
        "mode": "UPI",
        "fund_account_id": "fa_1",
        "created_at": 1,
    }
    with pytest.raises(PayoutError) as caught:
        Payout.from_api(entity)
    assert caught.value.code == "payout_unexpected_response"
