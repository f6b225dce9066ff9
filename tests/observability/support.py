"""Shared by the observability, readiness and alert tests.

Settings point every outside URL at a closed port unless a test names one.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

import wallet.alerts.models
import wallet.chains.models
import wallet.db.models
import wallet.rates.models
import wallet.settlement.models  # noqa: F401 - every table the signals read
from wallet.config import Settings
from wallet.db.base import Base
from wallet.db.models.payments import Payment, PaymentEvent, Quote
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.payments.states import PaymentStatus
from wallet.payments.transitions import transition

MASTER = SecretStr(base64.b64encode(b"m" * 32).decode())
SESSION_SECRET = SecretStr(base64.b64encode(b"s" * 32).decode())
CLOSED = "http://127.0.0.1:9"  # discard port: nothing listens on loopback


# The observability fields are Settings' own; the alias keeps the tests' vocabulary.
ObsSettings = Settings


def settings_for(tmp_path: Path, database_url: str, **overrides: Any) -> ObsSettings:
    """Settings with every outside URL explicit (never the sandbox endpoints file)."""
    values: dict[str, Any] = {
        "environment": "test",
        "var_dir": tmp_path,
        "database_url": database_url,
        "secret_key": SESSION_SECRET,
        "wallet_master_key": MASTER,
        "redis_url": None,
        "eth_rpc_url": CLOSED,
        "sol_rpc_url": CLOSED,
        "btc_rpc_url": CLOSED,
        "doge_rpc_url": CLOSED,
        "exchange_url": CLOSED,
        "inr_exchange_url": CLOSED,
        "coinbase_url": CLOSED,
        "razorpayx_url": CLOSED,
    }
    values.update(overrides)
    return ObsSettings(**values)


def sqlite_db(tmp_path: Path) -> tuple[str, sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / f'obs-{uuid.uuid4().hex[:8]}.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    return url, make_session_factory(engine)


def ops_app(settings: Settings) -> Flask:
    """The real app, whose factory registers the ops blueprint."""
    from webapp import create_app

    return create_app(settings, TESTING=True)


def advance(factory: sessionmaker[Session], payment_id: str, *statuses: PaymentStatus) -> None:
    """Walk a payment through ``statuses`` with the one transition function."""
    for status in statuses:
        with transaction(factory) as session:
            transition(session, payment_id, status, f"test: {status.value}", actor="test")


def backdate_quote(factory: sessionmaker[Session], payment_id: str, seconds: int) -> None:
    """Make the quote ``seconds`` older than the payment's first paid_out event."""
    with transaction(factory) as session:
        payment = session.get_one(Payment, payment_id)
        paid_at = min(
            e.at
            for e in session.query(PaymentEvent).filter_by(payment_id=payment_id)
            if e.to_status is PaymentStatus.PAID_OUT
        )
        session.execute(
            update(Quote)
            .where(Quote.id == payment.quote_id)
            .values(created_at=paid_at - timedelta(seconds=seconds))
        )


def backdate_events(factory: sessionmaker[Session], payment_id: str, to: datetime) -> None:
    """Move every timeline event (and creation) of a payment back to ``to``."""
    with transaction(factory) as session:
        session.execute(
            update(PaymentEvent).where(PaymentEvent.payment_id == payment_id).values(at=to)
        )
        session.execute(update(Payment).where(Payment.id == payment_id).values(created_at=to))
