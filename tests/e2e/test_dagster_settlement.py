"""End to end with the real Dagster daemon: a custodial SOL payment, quote to completed.

``dagster dev`` (webserver + daemon) runs the code location from
``workspace.yaml`` in a temporary ``DAGSTER_HOME`` against a migrated
SQLite app database and the RazorpayX and exchange stand-ins. One payment
is submitted directly through the GraphQL client (the web app's "pay now"
path); another is left to the payments sensor (the safety net). Both must
end ``completed`` with exactly one payout each at RazorpayX.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from taskforce.harness import custodial_payment, dagster_dev, deps_for, wait_for, webserver_up
from taskforce.harness import dagster_env as _env
from wallet.db.migrate import upgrade
from wallet.db.models import Payment
from wallet.db.session import make_engine, make_session_factory
from wallet.ledger import check_invariants
from wallet.payments.states import PaymentStatus

pytestmark = pytest.mark.slow


def _status(factory: sessionmaker[Session], pid: str) -> PaymentStatus:
    with factory() as s:
        return s.get_one(Payment, pid).status


def test_custodial_sol_payment_goes_from_quote_to_completed_under_the_daemon(
    tmp_path: Path, rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    env = _env(tmp_path, db_url, rzp, venues)
    with dagster_dev(tmp_path, env) as (proc, port):
        wait_for(lambda: webserver_up(port), 120, "the Dagster webserver", proc)
        from pipelines.submit import submit_settlement_run

        direct = custodial_payment(factory, inr_paise=50_000)
        assert submit_settlement_run([direct], port=port, timeout_s=30)
        by_sensor = custodial_payment(factory, inr_paise=60_000)

        for pid in (direct, by_sensor):
            wait_for(
                lambda pid=pid: _status(factory, pid) is PaymentStatus.COMPLETED,
                180,
                f"payment {pid} to complete",
                proc,
            )
        deps = deps_for(factory, rzp, venues)
        for pid in (direct, by_sensor):
            [payout] = deps.payouts.find_payouts(pid)
            assert payout.status.value == "processed" and payout.utr
        with factory() as s:
            check_invariants(s)
    engine.dispose()
