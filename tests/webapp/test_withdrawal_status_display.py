"""The payer sees a withdrawal move: queued, sent (with its transaction), completed or failed.

The request goes through the real API (hold, risk, the recorded INR value the
worker picks its confirmation depth from). The custody worker's status moves
are written straight to the row here (the worker itself is tested against the
Ethereum stand-in in tests/custody/test_withdrawal_worker.py); what is checked
is what the API and the history page show for each status.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from tests.accounts.helpers import unique_email
from tests.webapp.conftest import api_signup, web_login
from tests.webapp.pay_support import auth, fund, market, pay_app
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.db.models.users import User
from webapp.extensions import session_factory

__all__ = ["market", "pay_app"]  # fixtures

SOL_DEST = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
ONE_SOL = 1_000_000_000
TXID = "5" + "j" * 40 + "Sig"


def _set(app: Flask, withdrawal_id: int, **values: Any) -> None:
    with app.app_context(), session_factory()() as db, db.begin():
        db.execute(update(Withdrawal).where(Withdrawal.id == withdrawal_id).values(**values))


def _history(browser: FlaskClient, withdrawal_id: int) -> str:
    page = browser.get("/pay/history").get_data(as_text=True)
    start = page.index(f'id="withdrawal-{withdrawal_id}"')
    return page[start : page.index("</li>", start)]


def test_api_and_history_show_each_status_the_worker_moves_to(pay_app: Flask) -> None:
    api = pay_app.test_client()
    email = unique_email()
    body = api_signup(api, email)
    user_id, token = int(body["user"]["id"]), str(body["token"])
    with pay_app.app_context(), session_factory()() as db, db.begin():
        db.get_one(User, user_id).kyc_tier = 2
    fund(pay_app, user_id, "SOL", ONE_SOL)
    browser = pay_app.test_client()
    assert web_login(browser, email).status_code == 302

    req = {"asset": "SOL", "address": SOL_DEST, "amount": "0.2"}
    made = api.post("/api/v1/withdrawals", json=req, headers=auth(token, "disp-1"))
    assert made.status_code == 201, made.get_data(as_text=True)
    wid = made.get_json()["id"]
    with pay_app.app_context(), session_factory()() as db:
        recorded = db.get_one(Withdrawal, wid)
        # The worker's confirmation tier comes from the value at request time.
        assert int(recorded.detail["amount_inr_paise"]) > 0
    assert "Queued to send" in _history(browser, wid)

    _set(pay_app, wid, status=WithdrawalStatus.BROADCAST, txid=TXID)
    got = api.get(f"/api/v1/withdrawals/{wid}", headers=auth(token)).get_json()
    assert (got["status"], got["txid"]) == ("broadcast", TXID)
    assert got["status_text"] == "sent, waiting for confirmations"
    row = _history(browser, wid)
    assert "Sent" in row and TXID in row

    _set(pay_app, wid, status=WithdrawalStatus.POSTED)
    got = api.get(f"/api/v1/withdrawals/{wid}", headers=auth(token)).get_json()
    assert (got["status"], got["status_text"], got["txid"]) == ("posted", "completed", TXID)
    row = _history(browser, wid)
    assert "Completed" in row and TXID in row

    refused = api.post("/api/v1/withdrawals", json=req, headers=auth(token, "disp-2")).get_json()
    _set(pay_app, refused["id"], status=WithdrawalStatus.FAILED, error_code="signer_refused")
    got = api.get(f"/api/v1/withdrawals/{refused['id']}", headers=auth(token)).get_json()
    assert got["status"] == "failed" and got["txid"] is None
    assert got["status_text"] == "failed; the coins are back on your balance"
    row = _history(browser, refused["id"])
    assert "Failed, returned" in row and "Transaction" not in row
