"""End to end with the real Dagster daemon: an external ETH payment, quote to completed.

``dagster dev`` runs the code location against a migrated SQLite app
database, the Ethereum stand-in (anvil) and the RazorpayX and exchange
stand-ins. The payer pays the payment's own deposit address with web3; the
``ethereum_chain_sensor`` scans and moves the payment to ``detected`` and
``confirmed``; the payments sensor settles it. One payout, books balanced,
and the deposit counted once (no custody credit to the payer's wallet).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from web3 import Web3

from sandbox.ethereum.testing import start_ethereum, stop_ethereum
from taskforce.harness import dagster_dev, deps_for, evm_custody, external_payment, wait_for
from taskforce.harness import dagster_env as _env
from tests.e2e.test_dagster_settlement import _status
from wallet.chains.models import ScanCursor
from wallet.db.migrate import upgrade
from wallet.db.models.chain import Credit
from wallet.db.session import make_engine, make_session_factory
from wallet.ledger import check_invariants, get_balance, user_wallet
from wallet.payments.states import PaymentStatus

pytestmark = pytest.mark.slow
CONFS = 3


@pytest.fixture(scope="module")
def eth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc, info = start_ethereum(tmp_path_factory.mktemp("eth"), block_time=0)
    try:
        yield info
    finally:
        stop_ethereum(proc)


def test_external_eth_payment_goes_from_quote_to_completed_under_the_daemon(
    tmp_path: Path, rzp: dict[str, Any], venues: dict[str, Any], eth: dict[str, Any]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    tokens = dict(eth["settings"]["token_contracts"])
    service = evm_custody(factory, tokens)
    env = _env(tmp_path, db_url, rzp, venues)
    env.update(
        ETH_RPC_URL=eth["url"],
        TOKEN_CONTRACTS=json.dumps(tokens),
        CUSTODY_CONFIRMATIONS=json.dumps({"ETH": CONFS}),
    )
    with dagster_dev(tmp_path, env) as (proc, _port):

        def cursor_set() -> bool:
            with factory() as s:
                return s.get(ScanCursor, "ethereum") is not None

        # The sensor's first tick starts at today's head: pay only after it.
        wait_for(cursor_set, 180, "the ethereum sensor's first tick", proc)
        pid, address, wei, payer = external_payment(factory, service, asset="ETH")
        w3 = Web3(Web3.HTTPProvider(eth["url"]))
        txid = w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": address, "value": wei})
        assert w3.eth.wait_for_transaction_receipt(txid, timeout=30)["status"] == 1
        reply = httpx.post(
            f"{eth['url']}/__sandbox/mine", json={"blocks": CONFS}, timeout=30, trust_env=False
        )
        assert reply.status_code == 200, reply.text

        wait_for(
            lambda: _status(factory, pid) is PaymentStatus.COMPLETED,
            240,
            f"payment {pid} to complete",
            proc,
        )
        deps = deps_for(factory, rzp, venues)
        [payout] = deps.payouts.find_payouts(pid)
        assert payout.status.value == "processed" and payout.utr
        with factory() as s:
            assert s.scalar(select(func.count(Credit.id))) == 0
            assert get_balance(s, "escrow:ethereum:ETH").balance == wei
            assert get_balance(s, user_wallet(payer, "ETH")).balance == 0
            check_invariants(s)
    engine.dispose()
