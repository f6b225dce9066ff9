"""Builders shared by the settlement, pipeline, reconciliation and e2e tests.

The payment builders and the stand-in wiring live in :mod:`taskforce.harness`
(the benchmarks use them too); they are re-exported here under their test names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

import wallet.alerts.models
import wallet.db.all_models
import wallet.db.models
import wallet.rates.models
import wallet.settlement.models  # noqa: F401 - registers every table we create
from taskforce.harness import VPA, custodial_payment, deps_for, fund, new_user
from taskforce.harness import fixed_calculator as sol_calculator
from wallet.db.base import Base
from wallet.db.session import make_engine, make_session_factory

__all__ = [
    "VPA",
    "custodial_payment",
    "deps_for",
    "fresh_pg_schema",
    "fund",
    "new_user",
    "sol_calculator",
    "sqlite_factory",
]


def sqlite_factory(path: Path) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    return engine, make_session_factory(engine)


@contextmanager
def fresh_pg_schema(admin_url: str) -> Iterator[str]:
    """A new schema migrated to head, dropped afterwards (one per test module)."""
    from wallet.db.migrate import upgrade

    schema = f"s_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in admin_url else "?"
    url = f"{admin_url}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def settle_until_reversed(deps: Any, factory: sessionmaker[Session], pid: str) -> str:
    """Settle ``pid`` (paid to a VPA the stand-in reverses) and poll its payout until the
    reversal is applied (10 s at most; the caller asserts the outcome). Returns the
    status the settle pass itself reported."""
    import time

    from sqlalchemy import select

    from wallet.db.models import Payment, Payout
    from wallet.payments.states import PaymentStatus
    from wallet.settlement.service import refresh_payout, settle_pass

    reported = settle_pass(deps, [pid]).statuses[pid]
    with factory() as s:
        key = s.scalars(select(Payout.idempotency_key).where(Payout.payment_id == pid)).one()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        refresh_payout(deps, key)
        with factory() as s:
            if s.get_one(Payment, pid).status is PaymentStatus.PAYOUT_REVERSED:
                break
        time.sleep(0.2)
    return reported
