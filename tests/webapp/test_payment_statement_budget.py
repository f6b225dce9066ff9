"""How much SQL one custodial payment costs, pinned, on PostgreSQL.

``POST /api/v1/payments`` (custodial, with an ``Idempotency-Key``) is the
intake benchmark's hot path (``bench/intake.py``). Each statement costs a
round trip and, through SQLAlchemy, more CPU than PostgreSQL spends on it,
so the number of statements is pinned here as an upper bound: a change
that adds a query to every payment fails this test and has to raise the
bound on purpose. The count is deterministic (no timing): the statements
the app's engine sends for one request, after a first payment warmed the
payer's token and accounts.

Every statement is also built once: the second payment executes only
statement objects the first one did (building a statement cost more CPU
than sending it). The same request is checked for what the statements
must still do: one hold, four timeline events with their audit rows, the
risk decision and limit reservation, the TDS record, the stored
idempotent response."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from tests.webapp.pay_support import UPI, PriceBoard, auth, fund, settings_for, signup
from wallet.compliance.models import TdsRecord
from wallet.db.base import utcnow
from wallet.db.models.ledger import HoldStatus, LedgerHold
from wallet.db.models.ops import AuditLog, IdempotencyKey
from wallet.db.models.payments import PaymentEvent
from wallet.rates.cache import MemoryRateCache
from wallet.risk.models import LimitReservation, PaymentRisk
from webapp import create_app
from webapp.extensions import session_factory

pytestmark = pytest.mark.postgres

ONE_SOL = 1_000_000_000

# Statements for one custodial payment through the API (see the module docstring), 79
# before the intake work of issue 11, 40 after session 4, 27 after session 5:
#   auth 1 (the token joined to its user) · idempotency claim 1 (an upsert) ·
#   the payment's transaction 18: the quote and its payer locked with the payee's merchant
#   in one read (the existing-payment read only for a quote already accepted), ledger hold
#   (4: account, balance lock, the hold inserted with no read first, balance), sanctions
#   and AML reads (3, fan-in in one; they leave out the payment they judge, so it is not
#   written yet), then the payment inserted once in its final state (quote_issued →
#   awaiting_funds → detected → confirmed) with the quote accepted, the risk decision,
#   every event in one INSERT and every audit row in another (5), the TDS record (2: the
#   payer is already locked and a new payment has no record to find), the limit
#   reservation and every counter in one upsert (2, the payment's last writes), the
#   stored response (1). No savepoints: the transaction rolls back whole on any error
#   (wallet.db.atomic). The answer is built from the rows written.
MAX_STATEMENTS = 20
# Transactions committed: the auth's, the claim's, and the payment's with its response.
MAX_COMMITS = 3


@pytest.fixture
def pg_pay_app(tmp_path: Path, pg_migrated_url: str) -> Iterator[Flask]:
    market = PriceBoard()
    app = create_app(settings_for(tmp_path, pg_migrated_url), TESTING=True)
    app.extensions["quote_calculator"] = market.calculator()
    cache = MemoryRateCache()
    cache.put_rates(market.rates(utcnow()).values())
    app.extensions["rate_cache"] = cache
    app.extensions["settle_now"] = lambda _payment_id: None
    yield app
    app.extensions["engine"].dispose()


def _count(app: Flask, model: type[Any], *where: Any) -> int:
    with app.app_context(), session_factory()() as db:
        return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_custodial_payment_stays_within_its_statement_budget(pg_pay_app: Flask) -> None:
    client: FlaskClient = pg_pay_app.test_client()
    user_id, token = signup(client)
    fund(pg_pay_app, user_id, "SOL", ONE_SOL)

    statements: list[str] = []
    commits: list[int] = []
    built: list[list[int]] = []  # per payment: the statement objects executed

    def remember(_conn: Any, clause: Any, *_args: Any) -> None:
        built[-1].append(id(clause))

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split())[:120])

    def count_commit(_conn: Any) -> None:
        commits.append(len(statements))

    def pay(key: str) -> Any:
        body = {"upi_uri": UPI, "asset": "SOL"}
        quote = client.post("/api/v1/quotes", json=body, headers=auth(token))
        assert quote.status_code == 201, quote.get_data(as_text=True)
        statements.clear()
        commits.clear()
        built.append([])
        event.listen(engine, "before_cursor_execute", count)
        event.listen(engine, "commit", count_commit)
        event.listen(engine, "before_execute", remember)
        try:
            return client.post(
                "/api/v1/payments",
                json={"quote_id": quote.get_json()["id"], "source": "custodial"},
                headers=auth(token, key=key),
            )
        finally:
            event.remove(engine, "before_cursor_execute", count)
            event.remove(engine, "commit", count_commit)
            event.remove(engine, "before_execute", remember)

    engine = pg_pay_app.extensions["engine"]
    assert pay(uuid.uuid4().hex).status_code == 201  # warms the token stamp and the accounts
    key = uuid.uuid4().hex
    resp = pay(key)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert len(statements) <= MAX_STATEMENTS, "\n".join(statements)
    assert not [s for s in statements if "SAVEPOINT" in s.upper()], "\n".join(statements)
    assert len(commits) <= MAX_COMMITS, commits
    # Built once: building a statement costs more CPU than sending it, so every statement
    # object the second payment executed is one the first executed too (a statement built
    # per call, or an entity's DML the ORM copies per execution, is a new object).
    assert built[1] and set(built[1]) <= set(built[0]), "\n".join(statements)
    # The stored response is the last statement of the payment's own transaction, and
    # the limits (whose shared counter rows every payment queues on) the write before it.
    work = statements[: commits[-1]]
    assert work[-1].startswith("UPDATE idempotency_keys"), statements
    assert work[-2].startswith("INSERT INTO risk_counters"), statements

    body = resp.get_json()
    pid = body["id"]
    assert body["status"] == "confirmed"
    assert [s["status"] for s in body["timeline"]] == [
        "quote_issued",
        "awaiting_funds",
        "detected",
        "confirmed",
    ]
    # The answer built without a read-back is what a read returns.
    again = client.get(f"/api/v1/payments/{pid}", headers=auth(token)).get_json()
    assert again == body
    # Every guarantee's rows were still written by those statements.
    with pg_pay_app.app_context(), session_factory()() as db:
        events = db.scalars(
            select(PaymentEvent).where(PaymentEvent.payment_id == pid).order_by(PaymentEvent.id)
        ).all()
        assert [(e.version, e.from_status, e.to_status.value) for e in events] == [
            (1, None, "quote_issued"),
            (2, "quote_issued", "awaiting_funds"),
            (3, "awaiting_funds", "detected"),
            (4, "detected", "confirmed"),
        ]
        audit = db.scalars(
            select(AuditLog.action)
            .where(AuditLog.subject_type == "payment", AuditLog.subject_id == pid)
            .order_by(AuditLog.id)
        ).all()
        assert audit == ["payment.open", "risk.payment.approve"] + ["payment.transition"] * 3
        hold = db.scalars(select(LedgerHold).where(LedgerHold.ref == f"payment:{pid}")).one()
        assert hold.status is HoldStatus.PENDING and hold.amount == int(body["amount_minor"])
        stored = db.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key)).one()
        assert stored.response_status == 201 and stored.response_body == body
    assert _count(pg_pay_app, PaymentRisk, PaymentRisk.payment_id == pid) == 1
    assert _count(pg_pay_app, LimitReservation, LimitReservation.ref == f"payment:{pid}") == 1
    assert _count(pg_pay_app, TdsRecord, TdsRecord.payment_id == pid) == 1
