"""Receive (issue 7): a deposit to the payer's own address shows as pending, then
credited (then reversed after a reorg), on the receive page and on
``GET /api/v1/wallet/deposits``; another payer's deposits never show."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.accounts.helpers import PASSWORD, unique_email
from tests.webapp.conftest import web_login
from tests.webapp.pay_support import auth, market, pay_app
from tests.webapp.test_api_payments import _seeds
from wallet.assets import ChainFamily
from wallet.custody.deposits import _as_observation, _credit, _reverse
from wallet.db.models.chain import ChainObservation, Credit
from webapp.extensions import session_factory

__all__ = ["market", "pay_app"]  # fixtures

ETH = 10**18
MINE = "0x" + "a1" * 32
THEIRS = "0x" + "b2" * 32


def _payer(app: Flask) -> tuple[FlaskClient, str, str]:
    """(signed-in page client, API token, custodial ETH address) of a new payer."""
    client = app.test_client()
    email = unique_email()
    resp = client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    token = str(resp.get_json()["token"])
    assert web_login(client, email).status_code == 302
    found = client.get("/api/v1/wallet/deposit-address?asset=ETH", headers=auth(token))
    assert found.status_code == 200, found.get_data(as_text=True)
    return client, token, str(found.get_json()["address"])


def _observe(app: Flask, txid: str, address: str, minor: int, status: str = "success") -> None:
    with app.app_context(), session_factory()() as db, db.begin():
        db.add(
            ChainObservation(
                chain="ethereum", txid=txid, idx=0, asset="ETH", address=address,
                amount_minor=minor, block_number=None if status == "mempool" else 10,
                block_hash=None if status == "mempool" else "0xh10", status=status,
            )
        )  # fmt: skip


def _credit_it(app: Flask, txid: str) -> Credit:
    """Credit through custody's own crediting step (ledger entry + credits row)."""
    with app.app_context():
        factory = session_factory()
        with factory() as db:
            row = db.scalars(
                select(ChainObservation).where(
                    ChainObservation.txid == txid, ChainObservation.status == "success"
                )
            ).one()
            obs = _as_observation(row)
        credit = _credit(factory, obs, obs.amount_minor)
        assert credit is not None
        return credit


def _api(client: FlaskClient, token: str, query: str = "") -> list[dict[str, str]]:
    resp = client.get(f"/api/v1/wallet/deposits{query}", headers=auth(token))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    deposits: list[dict[str, str]] = resp.get_json()["deposits"]
    return deposits


def _page(client: FlaskClient) -> str:
    resp = client.get("/pay/receive?asset=ETH")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_a_deposit_shows_pending_then_credited_then_reversed(pay_app: Flask) -> None:
    _seeds(pay_app, ChainFamily.EVM)
    client, token, address = _payer(pay_app)
    other_client, other_token, other_address = _payer(pay_app)
    assert _api(client, token) == [] and "No deposits yet." in _page(client)

    _observe(pay_app, MINE, address, 3 * ETH // 2, status="mempool")
    _observe(pay_app, MINE, address, 3 * ETH // 2)  # then mined: still one deposit
    _observe(pay_app, THEIRS, other_address, 7 * ETH)
    _observe(pay_app, "0x" + "c3" * 32, address, ETH, status="reverted")  # never credits

    (pending,) = _api(client, token)
    assert pending["status"] == "pending" and pending["txid"] == MINE
    assert pending["amount"] == "1.5" and pending["amount_minor"] == str(3 * ETH // 2)
    assert pending["credited_at"] is None and pending["chain"] == "ethereum"
    html = _page(client)
    assert 'data-status="pending"' in html and "1.5 ETH" in html and MINE in html
    assert THEIRS not in html and 'data-status="credited"' not in html

    credit = _credit_it(pay_app, MINE)
    (credited,) = _api(client, token, "?asset=ETH")
    assert credited["status"] == "credited" and credited["credited_at"] is not None
    assert credited["amount_minor"] == str(3 * ETH // 2)
    html = _page(client)
    assert 'data-status="credited"' in html and 'data-status="pending"' not in html
    wallet = client.get("/api/v1/wallet", headers=auth(token)).get_json()
    eth = next(b for b in wallet["balances"] if b["asset"] == "ETH")
    assert eth["amount"] == "1.5"  # the page's "credited" is the ledger's credit

    with pay_app.app_context():
        assert _reverse(session_factory(), credit)
    (reversed_,) = _api(client, token)
    assert reversed_["status"] == "reversed"
    assert 'data-status="reversed"' in _page(client)

    # Another payer sees only their own; a different asset filter sees nothing.
    (theirs,) = _api(other_client, other_token)
    assert theirs["txid"] == THEIRS and theirs["amount"] == "7"
    assert MINE not in _page(other_client)
    assert _api(client, token, "?asset=SOL") == []


def test_bad_filters_are_refused(pay_app: Flask) -> None:
    _seeds(pay_app, ChainFamily.EVM)
    client, token, _address = _payer(pay_app)
    for query, code in (("?asset=XYZ", "unknown_asset"), ("?limit=0", "bad_request")):
        resp = client.get(f"/api/v1/wallet/deposits{query}", headers=auth(token))
        assert resp.status_code == 400
        assert resp.get_json()["error"]["code"] == code
    # No token and no session: refused.
    assert pay_app.test_client().get("/api/v1/wallet/deposits").status_code == 401


def test_the_route_is_in_the_openapi_document(pay_app: Flask) -> None:
    spec = pay_app.test_client().get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/wallet/deposits"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"asset", "limit"}
    props = spec["components"]["schemas"]["DepositOut"]["properties"]
    assert {"amount", "amount_minor", "status", "seen_at", "credited_at"} <= set(props)
