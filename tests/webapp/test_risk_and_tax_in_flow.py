"""Risk and tax wired into the payer flow (issue 9), over the REST API.

Real risk engine, sanctions list, TDS rules, ledger and state machine on
SQLite; each refusal is checked to hold nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.webapp.pay_support import VPA, auth, fund, market, pay_app, signup
from wallet.compliance.config import TaxConfig
from wallet.compliance.models import TdsRecord
from wallet.compliance.sanctions import refresh_sanctions_list
from wallet.custody.models import Withdrawal
from wallet.db.base import utcnow
from wallet.db.models.payments import Payment
from wallet.db.models.users import User
from wallet.ledger import get_balance, user_wallet
from wallet.payments.intake import create_payment
from wallet.payments.states import PaymentStatus
from wallet.payments.transitions import transition
from wallet.risk import RiskConfig
from wallet.risk.limits import Period, usage
from wallet.risk.models import PaymentRisk, ReviewCase, RiskDecisionKind
from webapp.extensions import session_factory

__all__ = ["market", "pay_app"]  # fixtures

ONE_SOL = 1_000_000_000
SAMPLE = Path(__file__).resolve().parents[2] / "wallet" / "compliance" / "data"
SANCTIONED_VPA = "sanctioned.sample@fakebank"
SANCTIONED_SOL = "8iXJfAqmGfC4CLQ2qdyZQxj97vVdjjw3h9GKm4th9M5S"
SOL_DEST = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"


@pytest.fixture
def client(pay_app: Flask) -> FlaskClient:
    return pay_app.test_client()


def _load_sanctions(app: Flask) -> None:
    with app.app_context(), session_factory()() as db, db.begin():
        refresh_sanctions_list(db, SAMPLE / "sanctions_sample.csv")


def _set_tier(app: Flask, user_id: int, tier: int) -> None:
    with app.app_context(), session_factory()() as db, db.begin():
        db.get_one(User, user_id).kyc_tier = tier


def _available(app: Flask, user_id: int, asset: str) -> int:
    with app.app_context(), session_factory()() as db:
        return get_balance(db, user_wallet(user_id, asset)).available


def _rows(app: Flask, model: type[Any]) -> list[Any]:
    with app.app_context(), session_factory()() as db:
        rows = list(db.scalars(select(model)))
        db.expunge_all()
    return rows


def _quote(client: FlaskClient, token: str, vpa: str = VPA, amount: str = "30.00") -> Any:
    uri = f"upi://pay?pa={vpa}&pn=Shop&am={amount}&cu=INR"
    resp = client.post("/api/v1/quotes", json={"upi_uri": uri, "asset": "SOL"}, headers=auth(token))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def _pay(client: FlaskClient, token: str, quote_id: str, source: str = "custodial") -> Any:
    body = {"quote_id": quote_id, "source": source}
    return client.post("/api/v1/payments", json=body, headers=auth(token))


def test_the_quote_shows_the_payers_tds(pay_app: Flask, client: FlaskClient) -> None:
    # Threshold 0 and no PAN on file: section 206AA's 20 % on ₹30 = ₹6.
    pay_app.extensions["tax_config"] = TaxConfig(tds_threshold_other_paise=0)
    _uid, token = signup(client)
    fees = _quote(client, token)["fees"]
    assert fees["tds_inr_minor"] == "600"
    parts = ("platform", "network", "buffer", "tds")
    assert int(fees["total_inr_minor"]) == sum(int(fees[f"{p}_inr_minor"]) for p in parts)


def test_below_the_annual_threshold_the_quote_has_no_tds(
    pay_app: Flask, client: FlaskClient
) -> None:
    _uid, token = signup(client)
    assert _quote(client, token)["fees"]["tds_inr_minor"] == "0"


def test_a_custodial_payment_records_its_tds_and_risk_decision(
    pay_app: Flask, client: FlaskClient
) -> None:
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    resp = _pay(client, token, _quote(client, token)["id"])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    payment_id = resp.get_json()["id"]
    (tds,) = _rows(pay_app, TdsRecord)
    assert (tds.payment_id, tds.consideration_paise, tds.tds_paise) == (payment_id, 3000, 0)
    (risk,) = _rows(pay_app, PaymentRisk)
    assert risk.payment_id == payment_id and risk.decision is RiskDecisionKind.APPROVE


def test_over_the_tier_limit_is_declined_and_holds_nothing(
    pay_app: Flask, client: FlaskClient
) -> None:
    user_id, token = signup(client)
    _set_tier(pay_app, user_id, 0)  # ₹2,000 per payment
    fund(pay_app, user_id, "SOL", ONE_SOL)
    quote = _quote(client, token, amount="2500.00")
    resp = _pay(client, token, quote["id"])
    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "limit_tier_per_payment"
    assert _rows(pay_app, Payment) == []
    assert _available(pay_app, user_id, "SOL") == ONE_SOL


def test_a_sanctioned_payee_is_refused_with_a_case_and_nothing_held(
    pay_app: Flask, client: FlaskClient
) -> None:
    _load_sanctions(pay_app)
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    quote = _quote(client, token, vpa=SANCTIONED_VPA)
    resp = _pay(client, token, quote["id"])
    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "sanctions_hit"
    (payment,) = _rows(pay_app, Payment)
    assert payment.status is PaymentStatus.FAILED
    assert payment.status_reason.startswith("sanctions_hit")
    (case,) = _rows(pay_app, ReviewCase)
    assert case.kind == "sanctions_hit" and case.payment_ids == [payment.id]
    assert _available(pay_app, user_id, "SOL") == ONE_SOL
    again = _pay(client, token, quote["id"])  # retrying the quote does not slip through
    assert again.get_json()["error"]["code"] == "sanctions_hit"
    assert _available(pay_app, user_id, "SOL") == ONE_SOL


def test_an_aml_hold_sends_a_custodial_payment_to_review(
    pay_app: Flask, client: FlaskClient
) -> None:
    # ₹30 sits in the band just under a ₹31 threshold: one such payment is "structuring".
    pay_app.extensions["risk_config"] = RiskConfig(
        structuring_threshold_paise=3_100, structuring_min_count=1
    )
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    resp = _pay(client, token, _quote(client, token)["id"])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    (payment,) = _rows(pay_app, Payment)
    assert payment.status is PaymentStatus.HELD_FOR_REVIEW
    assert "structuring" in payment.status_reason
    assert [c.kind for c in _rows(pay_app, ReviewCase)] == ["structuring"]


def test_a_payment_its_limits_refuse_keeps_nothing_not_even_its_aml_case(
    pay_app: Flask, client: FlaskClient
) -> None:
    # Intake takes the limits last (the shared counter rows stay locked only until the
    # commit), after the AML flags raised their case: the refusal must take that back too.
    pay_app.extensions["risk_config"] = RiskConfig(
        structuring_threshold_paise=3_100,
        structuring_min_count=1,
        user_hourly_count=1,
    )
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    first = _pay(client, token, _quote(client, token)["id"])
    assert first.status_code == 201, first.get_data(as_text=True)
    held = _available(pay_app, user_id, "SOL")
    cases = [(c.kind, c.payment_ids) for c in _rows(pay_app, ReviewCase)]
    assert cases == [("structuring", [first.get_json()["id"]])]
    refused = _pay(client, token, _quote(client, token)["id"])
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert refused.get_json()["error"]["code"] == "limit_user_hour_count"
    assert [p.id for p in _rows(pay_app, Payment)] == [first.get_json()["id"]]
    assert [(c.kind, c.payment_ids) for c in _rows(pay_app, ReviewCase)] == cases
    assert [r.payment_id for r in _rows(pay_app, PaymentRisk)] == [first.get_json()["id"]]
    assert _available(pay_app, user_id, "SOL") == held
    with pay_app.app_context(), session_factory()() as db:
        assert usage(db, "user", str(user_id), Period.HOUR, utcnow()) == (1, 3000)


def test_an_expired_external_payment_gives_its_limits_back(
    pay_app: Flask, client: FlaskClient
) -> None:
    user_id, token = signup(client)
    quote_id = _quote(client, token)["id"]
    with pay_app.app_context(), session_factory()() as db, db.begin():
        # No deposit allocator: the address is custody's business, not this test's.
        payment_id = create_payment(db, user_id, quote_id, "external").id
    now = utcnow()
    with pay_app.app_context(), session_factory()() as db:
        assert usage(db, "user", str(user_id), Period.DAY, now) == (1, 3000)
    with pay_app.app_context(), session_factory()() as db, db.begin():
        transition(db, payment_id, PaymentStatus.EXPIRED, "no funds in time", actor="test")
    with pay_app.app_context(), session_factory()() as db:
        assert usage(db, "user", str(user_id), Period.DAY, now) == (0, 0)
    assert _rows(pay_app, TdsRecord) == []  # no funds moved, no TDS


def test_a_withdrawal_to_a_sanctioned_address_is_parked_for_review(
    pay_app: Flask, client: FlaskClient
) -> None:
    _load_sanctions(pay_app)
    user_id, token = signup(client)
    fund(pay_app, user_id, "SOL", ONE_SOL)
    body = {"asset": "SOL", "address": SANCTIONED_SOL, "amount": "0.1"}
    resp = client.post("/api/v1/withdrawals", json=body, headers=auth(token, "w1"))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    out = resp.get_json()
    assert (out["status"], out["status_text"]) == ("held_for_review", "under review")
    assert "sanctions" not in resp.get_data(as_text=True)  # reasons are for admins only
    (row,) = _rows(pay_app, Withdrawal)
    assert row.status.value == "held_for_review" and row.txid is None
    assert [c.kind for c in _rows(pay_app, ReviewCase)] == ["sanctions_hit"]
    assert _available(pay_app, user_id, "SOL") == ONE_SOL - ONE_SOL // 10  # held, not sent


def test_a_withdrawal_over_the_tier_limit_is_declined(pay_app: Flask, client: FlaskClient) -> None:
    user_id, token = signup(client)
    _set_tier(pay_app, user_id, 0)  # ₹2,000 per payment; 0.5 SOL is ₹7,000
    fund(pay_app, user_id, "SOL", ONE_SOL)
    body = {"asset": "SOL", "address": SOL_DEST, "amount": "0.5"}
    resp = client.post("/api/v1/withdrawals", json=body, headers=auth(token, "w1"))
    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "limit_tier_per_payment"
    assert _rows(pay_app, Withdrawal) == []
    assert _available(pay_app, user_id, "SOL") == ONE_SOL
    small = {"asset": "SOL", "address": SOL_DEST, "amount": "0.1"}
    assert (
        client.post("/api/v1/withdrawals", json=small, headers=auth(token, "w2")).status_code == 201
    )
