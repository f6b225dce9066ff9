"""The admin panel: access, CSRF, review actions through the state machine, the
two-admin rule, freezing, exchange keys sealed at rest, health and float pages."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from tests.merchant.support import csrf, db, make_payment, new_user, signed_in
from wallet.admin import exchange_accounts
from wallet.admin.models import ApprovalStatus, ExchangeAccount, PendingApproval
from wallet.alerts.models import AlertIncident
from wallet.audit import trail
from wallet.db.base import utcnow
from wallet.db.models import (
    Payment,
    PaymentSource,
    PaymentStatus,
    PayoutStatus,
    Quote,
    Role,
    User,
    UserStatus,
)
from wallet.ledger import get_balance, post_entry, user_wallet
from wallet.ledger.invariants import check_invariants
from wallet.payments.transitions import transition
from wallet.rates.models import AssetPause, RateHistory
from wallet.risk.cases import raise_case
from wallet.risk.models import CaseStatus, ReviewCase
from wallet.settlement import ledger as settlement_ledger
from webapp.merchant.common import kms

ADMIN_PAGES = [
    "/admin/",
    "/admin/payments",
    "/admin/review",
    "/admin/float",
    "/admin/exchange-accounts",
    "/admin/health",
    "/admin/users",
    "/admin/audit",
]
BIG = 2_000_000  # ₹20,000: above the ₹10,000 two-admin threshold


def act(client: FlaskClient, payment_id: str, action: str, reason: str = "checked") -> Any:
    token = csrf(client, "/admin/review")
    return client.post(
        f"/admin/review/{payment_id}/action",
        data={"action": action, "reason": reason, "csrf_token": token},
        follow_redirects=True,
    )


def status_of(app: Flask, payment_id: str) -> PaymentStatus:
    with db(app) as session:
        return session.get_one(Payment, payment_id).status


def test_pages_render_for_admins_only(app: Flask) -> None:
    admin, _u, _m = signed_in(app, Role.ADMIN)
    payment = make_payment(app, None, PaymentStatus.HELD_FOR_REVIEW)
    for path in [*ADMIN_PAGES, f"/admin/payments/{payment.id}"]:
        assert admin.get(path).status_code == 200, path
    for role in (Role.MERCHANT, Role.PAYER):
        other, _u, _m = signed_in(app, role)
        for path in ADMIN_PAGES:
            assert other.get(path).status_code == 404, (role, path)
    assert app.test_client().get("/admin/").status_code == 302


def test_payment_detail_shows_every_record(app: Flask) -> None:
    admin, _u, _m = signed_in(app, Role.ADMIN)
    payment = make_payment(
        app, None, PaymentStatus.COMPLETED, payout=(PayoutStatus.PROCESSED, "UTR77")
    )
    page = admin.get(f"/admin/payments/{payment.id}").get_data(as_text=True)
    for text_ in (
        "UTR77",
        "test: paid_out",
        "Chain observations",
        "Ledger postings",
        "Exchange orders",
    ):
        assert text_ in page
    assert payment.id[:8] in admin.get("/admin/payments?q=UTR77").get_data(as_text=True)


def test_actions_need_csrf(app: Flask) -> None:
    admin, user, _m = signed_in(app, Role.ADMIN)
    payment = make_payment(app, None, PaymentStatus.HELD_FOR_REVIEW)
    resp = admin.post(
        f"/admin/review/{payment.id}/action", data={"action": "payment.refund", "reason": "x"}
    )
    assert resp.status_code == 403
    assert admin.post(f"/admin/users/{user.id}/freeze", data={"reason": "x"}).status_code == 403
    assert status_of(app, payment.id) is PaymentStatus.HELD_FOR_REVIEW


def test_retry_settlement_collects_and_moves_to_settling(app: Flask) -> None:
    admin, user, _m = signed_in(app, Role.ADMIN)
    payment = make_payment(app, None, PaymentStatus.HELD_FOR_REVIEW)
    page = act(admin, payment.id, "payment.retry_settlement", "amount verified")
    assert "released to settlement" in page.get_data(as_text=True).lower()
    assert status_of(app, payment.id) is PaymentStatus.SETTLING
    with db(app) as session:
        assert get_balance(session, settlement_ledger.CLEARING).balance == payment.amount_inr_paise
        actions = [a.action for a in trail(session, "payment", payment.id)]
        assert actions[-1] == "payment.transition"
        event = [a for a in trail(session, "payment", payment.id)][-1]
        assert event.actor == f"admin:{user.id}" and "amount verified" in event.data["reason"]
        check_invariants(session)
    # Acting again is refused: the payment is no longer held.
    again = act(admin, payment.id, "payment.retry_settlement")
    assert "not held for review" in again.get_data(as_text=True)


def test_a_reason_is_required(app: Flask) -> None:
    admin, _u, _m = signed_in(app, Role.ADMIN)
    payment = make_payment(app, None, PaymentStatus.HELD_FOR_REVIEW)
    page = act(admin, payment.id, "payment.refund", reason="  ")
    assert "say why" in page.get_data(as_text=True)
    assert status_of(app, payment.id) is PaymentStatus.HELD_FOR_REVIEW


def _collected_then_held(app: Flask, amount_paise: int = 25_000) -> Payment:
    payment = make_payment(app, None, PaymentStatus.CONFIRMED, amount_paise=amount_paise)
    with db(app) as session:
        live = session.get_one(Payment, payment.id)
        settlement_ledger.post_collect(session, live, session.get_one(Quote, live.quote_id))
        transition(session, live.id, PaymentStatus.SETTLING, "settling", actor="test")
        transition(
            session, live.id, PaymentStatus.HELD_FOR_REVIEW, "payout failed 3x", actor="test"
        )
    return payment


def test_refund_returns_the_crypto_and_reverses_the_obligation(app: Flask) -> None:
    admin, _u, _m = signed_in(app, Role.ADMIN)
    payment = _collected_then_held(app)
    act(admin, payment.id, "payment.refund", "vendor VPA closed")
    assert status_of(app, payment.id) is PaymentStatus.REFUNDED
    with db(app) as session:
        wallet = get_balance(session, user_wallet(payment.user_id, payment.asset))
        assert wallet.balance == payment.amount_minor
        assert get_balance(session, settlement_ledger.CLEARING).balance == 0
        check_invariants(session)


def test_refund_refused_after_a_processed_payout(app: Flask) -> None:
    admin, _u, _m = signed_in(app, Role.ADMIN)
    payment = make_payment(
        app, None, PaymentStatus.HELD_FOR_REVIEW, payout=(PayoutStatus.PROCESSED, "U1")
    )
    page = act(admin, payment.id, "payment.refund", "dispute")
    assert "would pay twice" in page.get_data(as_text=True)
    assert status_of(app, payment.id) is PaymentStatus.HELD_FOR_REVIEW


def test_custodial_refund_voids_the_hold(app: Flask) -> None:
    from wallet.ledger.holds import place_hold
    from wallet.payments.intake import hold_ref

    admin, _u, _m = signed_in(app, Role.ADMIN)
    payer = new_user(app, Role.PAYER)
    with db(app) as session:
        post_entry(
            session,
            [
                ("external:deposits:SOL", "SOL", 5 * 10**9),
                (user_wallet(payer.id, "SOL"), "SOL", -5 * 10**9),
            ],
            kind="test.fund",
            ref=f"fund:{payer.id}",
        )
    payment = make_payment(
        app, None, PaymentStatus.HELD_FOR_REVIEW, source=PaymentSource.CUSTODIAL, payer=payer
    )
    with db(app) as session:
        place_hold(
            session,
            user_wallet(payer.id, "SOL"),
            "SOL",
            payment.amount_minor,
            ref=hold_ref(payment.id),
        )
        assert get_balance(session, user_wallet(payer.id, "SOL")).available == 4 * 10**9
    act(admin, payment.id, "payment.refund", "customer asked")
    assert status_of(app, payment.id) is PaymentStatus.REFUNDED
    with db(app) as session:
        assert get_balance(session, user_wallet(payer.id, "SOL")).available == 5 * 10**9


def test_two_admin_rule_above_the_threshold(app: Flask) -> None:
    first, first_user, _m = signed_in(app, Role.ADMIN)
    second, second_user, _m2 = signed_in(app, Role.ADMIN)
    payment = make_payment(app, None, PaymentStatus.HELD_FOR_REVIEW, amount_paise=BIG)
    page = act(first, payment.id, "payment.retry_settlement", "large, verified").get_data(
        as_text=True
    )
    assert "second admin" in page
    assert status_of(app, payment.id) is PaymentStatus.HELD_FOR_REVIEW
    with db(app) as session:
        approval = session.scalars(select(PendingApproval)).one()
    # The requester sees no approve button and cannot approve by posting.
    assert f"/admin/approvals/{approval.id}/approve" not in first.get("/admin/review").get_data(
        as_text=True
    )
    token = csrf(first, "/admin/review")
    refused = first.post(
        f"/admin/approvals/{approval.id}/approve", data={"csrf_token": token}, follow_redirects=True
    )
    assert "another admin must approve" in refused.get_data(as_text=True).lower()
    assert status_of(app, payment.id) is PaymentStatus.HELD_FOR_REVIEW
    # A duplicate request while one is pending is refused.
    assert "already waits" in act(first, payment.id, "payment.retry_settlement").get_data(
        as_text=True
    )
    token = csrf(second, "/admin/review")
    second.post(f"/admin/approvals/{approval.id}/approve", data={"csrf_token": token})
    assert status_of(app, payment.id) is PaymentStatus.SETTLING
    with db(app) as session:
        done = session.get_one(PendingApproval, approval.id)
        assert done.status is ApprovalStatus.EXECUTED
        assert (done.requested_by, done.decided_by) == (first_user.id, second_user.id)
        moves = [
            a for a in trail(session, "payment", payment.id) if a.action == "payment.transition"
        ]
        assert moves[-1].actor == f"admin:{second_user.id} approving admin:{first_user.id}"
        assert trail(session, "payment", payment.id)[-1].action == "admin.approval_approved"
    # Below the threshold one admin suffices.
    small = make_payment(app, None, PaymentStatus.HELD_FOR_REVIEW, amount_paise=50_000)
    act(first, small.id, "payment.retry_settlement", "fine")
    assert status_of(app, small.id) is PaymentStatus.SETTLING


def test_the_database_refuses_self_approval(app: Flask) -> None:
    admin = new_user(app, Role.ADMIN)
    with db(app) as session:
        row = PendingApproval(
            action="payment.refund",
            subject_type="payment",
            subject_id="x",
            reason="r",
            requested_by=admin.id,
            requested_at=utcnow(),
        )
        session.add(row)
    with pytest.raises(IntegrityError), db(app) as session:
        session.execute(
            text("UPDATE pending_approvals SET decided_by = requested_by WHERE id = :id"),
            {"id": row.id},
        )


def test_rejecting_a_request_leaves_the_payment_held(app: Flask) -> None:
    first, _u, _m = signed_in(app, Role.ADMIN)
    second, _u2, _m2 = signed_in(app, Role.ADMIN)
    payment = make_payment(app, None, PaymentStatus.HELD_FOR_REVIEW, amount_paise=BIG)
    act(first, payment.id, "payment.refund", "refund it")
    with db(app) as session:
        approval_id = session.scalars(select(PendingApproval.id)).one()
    token = csrf(second, "/admin/review")
    second.post(
        f"/admin/approvals/{approval_id}/reject", data={"reason": "needs KYC", "csrf_token": token}
    )
    with db(app) as session:
        assert session.get_one(PendingApproval, approval_id).status is ApprovalStatus.REJECTED
    assert status_of(app, payment.id) is PaymentStatus.HELD_FOR_REVIEW


def test_mark_resolved_closes_the_review_cases(app: Flask) -> None:
    admin, _u, _m = signed_in(app, Role.ADMIN)
    payment = make_payment(app, None, PaymentStatus.HELD_FOR_REVIEW)
    with db(app) as session:
        raise_case(
            session,
            kind="structuring",
            subject=f"user:{payment.user_id}",
            payment_id=payment.id,
            details={},
            now=utcnow(),
        )
    assert "structuring" in admin.get("/admin/review").get_data(as_text=True)
    act(admin, payment.id, "payment.mark_resolved", "false positive")
    with db(app) as session:
        case = session.scalars(select(ReviewCase)).one()
        assert case.status is CaseStatus.RESOLVED and case.resolution == "false positive"
    assert status_of(app, payment.id) is PaymentStatus.HELD_FOR_REVIEW


def test_freeze_and_unfreeze_are_audited(app: Flask) -> None:
    admin, admin_user, _m = signed_in(app, Role.ADMIN)
    target = new_user(app, Role.PAYER)
    token = csrf(admin, f"/admin/users/{target.id}")
    admin.post(
        f"/admin/users/{target.id}/freeze", data={"reason": "stolen phone", "csrf_token": token}
    )
    with db(app) as session:
        assert session.get_one(User, target.id).status is UserStatus.FROZEN
    page = admin.get(f"/admin/users/{target.id}").get_data(as_text=True)
    assert "frozen" in page and "stolen phone" in page
    admin.post(
        f"/admin/users/{target.id}/unfreeze", data={"reason": "recovered", "csrf_token": token}
    )
    with db(app) as session:
        assert session.get_one(User, target.id).status is UserStatus.ACTIVE
        actions = [(a.action, a.actor) for a in trail(session, "user", target.id)]
    assert ("user.frozen", f"admin:{admin_user.id}") in actions and actions[-1][
        0
    ] == "user.unfrozen"
    audit = admin.get(f"/admin/audit?subject_type=user&subject_id={target.id}").get_data(
        as_text=True
    )
    assert "user.frozen" in audit and "user.unfrozen" in audit


def test_exchange_keys_are_sealed_and_never_shown(app: Flask) -> None:
    admin, _u, _m = signed_in(app, Role.ADMIN)
    key, secret = "binance-key-ABCDEFGH1234", "binance-secret-very-private-999"
    token = csrf(admin, "/admin/exchange-accounts")
    admin.post(
        "/admin/exchange-accounts",
        data={"venue": "binance", "api_key": key, "api_secret": secret, "csrf_token": token},
    )
    page = admin.get("/admin/exchange-accounts").get_data(as_text=True)
    assert "…1234" in page and key not in page and secret not in page
    with app.app_context():
        keys = kms()
    with db(app) as session:
        row = session.scalars(select(ExchangeAccount)).one()
        assert key not in (row.api_key_sealed or "") and secret not in (row.api_secret_sealed or "")
        got_key, got_secret = exchange_accounts.credentials(session, keys, "binance")
        assert (got_key.reveal(), got_secret.reveal()) == (key.encode(), secret.encode())
    admin.post(
        "/admin/exchange-accounts",
        data={
            "venue": "binance",
            "api_key": "rotated-key-00005678",
            "api_secret": "s" * 20,
            "csrf_token": token,
        },
    )
    admin.post(
        "/admin/exchange-accounts/binance/toggle", data={"enabled": "0", "csrf_token": token}
    )
    with db(app) as session:
        row = session.scalars(select(ExchangeAccount)).one()
        assert row.rotated_at is not None and row.key_hint == "…5678" and not row.enabled
        assert exchange_accounts.enabled_venues(session) == []
    bad = admin.post(
        "/admin/exchange-accounts",
        data={"venue": "nowhere", "api_key": key, "api_secret": secret, "csrf_token": token},
        follow_redirects=True,
    )
    assert "unknown venue" in bad.get_data(as_text=True)


@pytest.fixture
def fake_dagster() -> Iterator[str]:
    """Dagster's GraphQL endpoint as far as the health page asks it."""
    answer = {
        "data": {
            "instance": {
                "daemonHealth": {
                    "allDaemonStatuses": [
                        {
                            "daemonType": "SENSOR",
                            "healthy": True,
                            "required": True,
                            "lastHeartbeatTime": 1.0,
                        },
                        {
                            "daemonType": "SCHEDULER",
                            "healthy": False,
                            "required": True,
                            "lastHeartbeatTime": None,
                        },
                    ]
                }
            },
            "runsOrError": {
                "__typename": "Runs",
                "results": [
                    {
                        "runId": "abcdef123456",
                        "jobName": "settlement_job",
                        "status": "FAILURE",
                        "startTime": 1.0,
                        "endTime": 2.0,
                    }
                ],
            },
        }
    }

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_health_page_reads_what_exists(app: Flask, fake_dagster: str) -> None:
    admin, _u, _m = signed_in(app, Role.ADMIN)
    page = admin.get("/admin/health").get_data(as_text=True)
    assert 'id="dagster-unavailable"' in page and "No rates recorded yet" in page
    assert "No open alerts." in page and "None stuck." in page
    assert re.search(r"<td>database</td><td[^>]*>ok</td>", page)
    now = utcnow()
    with db(app) as session:
        session.add(
            AlertIncident(
                key="float_low:INR",
                kind="float_low",
                severity="critical",
                message="INR float below the minimum",
                first_at=now,
                last_at=now,
            )
        )
        session.add(
            RateHistory(
                asset="SOL",
                source="median",
                rate_num=14,
                rate_den=1,
                inr_per_unit=Decimal("14000"),
                observed_at=now - timedelta(seconds=90),
            )
        )
        session.add(
            AssetPause(
                asset="PEPE",
                reason="price moved 25% in 5 minutes",
                paused_at=now,
                last_tripped_at=now,
            )
        )
    app.config["DAGSTER_URL"] = fake_dagster
    page = admin.get("/admin/health").get_data(as_text=True)
    assert "PEPE" in page and "price moved 25% in 5 minutes" in page
    assert "INR float below the minimum" in page and "No open alerts." not in page
    assert re.search(r"<td>SOL</td><td>[^<]+</td><td[^>]*>9\d s</td>", page)
    assert "SCHEDULER" in page and f"{fake_dagster}/runs/abcdef123456" in page


def test_float_page_shows_ledger_positions(app: Flask) -> None:
    admin, _u, _m = signed_in(app, Role.ADMIN)
    assert "no entries yet" in admin.get("/admin/float").get_data(as_text=True)
    with db(app) as session:
        post_entry(
            session,
            [("float:INR", "INR", 5_000_000), ("external:bank:INR", "INR", -5_000_000)],
            kind="test.float",
            ref="topup-1",
        )
    make_payment(app, None, PaymentStatus.SETTLING, payout=(PayoutStatus.PROCESSING, None))
    page = admin.get("/admin/float").get_data(as_text=True)
    assert 'id="float-balance">₹50,000<' in page and "processing" in page
