"""Payments across everything, one payment in full, and the review queue (payments and
withdrawals held for review)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from wallet.admin import review, withdrawal_review
from wallet.admin.review import Outcome
from wallet.assets import CRYPTO_ASSETS
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.custody.withdrawal_review import inr_value, parked_withdrawals, review_reasons
from wallet.db.base import utcnow
from wallet.db.models.payments import Payment
from wallet.errors import WalletError
from wallet.merchants import analytics, queries
from wallet.merchants.queries import IST, PaymentFilters
from wallet.payments.states import PaymentStatus
from wallet.risk.cases import list_cases, resolve_case
from webapp.admin.common import admin, admin_required, bp, config
from webapp.extensions import unit_of_work
from webapp.pay.schemas import crypto

PAGE = 100


@bp.get("/")
@admin_required
def index() -> ResponseReturnValue:
    """What needs attention: the review queue and approvals waiting for a second admin."""
    with unit_of_work() as db:
        held = db.scalar(
            select(func.count(Payment.id)).where(Payment.status == PaymentStatus.HELD_FOR_REVIEW)
        )
        held = (held or 0) + (
            db.scalar(
                select(func.count(Withdrawal.id)).where(
                    Withdrawal.status == WithdrawalStatus.HELD_FOR_REVIEW
                )
            )
            or 0
        )
        approvals = review.pending_approvals(db)
        cases = list_cases(db)
    return render_template("admin/index.html", held=held, approvals=approvals, cases=cases)


@bp.get("/payments")
@admin_required
def payments() -> ResponseReturnValue:
    """Search and filter every payment (id prefix, VPA, payee name, UTR)."""
    error = None
    try:
        filters = PaymentFilters.parse(request.args)
    except WalletError as exc:
        filters, error = PaymentFilters(), exc.message
    with unit_of_work() as db:
        rows = queries.list_payments(db, None, filters, limit=PAGE)
        payouts = queries.payouts_for(db, [p.id for p in rows])
    return render_template(
        "admin/payments.html",
        rows=rows,
        payouts=payouts,
        filters=filters,
        args=filters.as_args(),
        error=error,
        statuses=list(PaymentStatus),
        assets=CRYPTO_ASSETS,
        rupees=analytics.rupees,
        ist=IST,
    ), (400 if error else 200)


@bp.get("/payments/<payment_id>")
@admin_required
def payment(payment_id: str) -> ResponseReturnValue:
    """Timeline, chain observations, ledger postings, attempts, payouts, orders."""
    with unit_of_work() as db:
        detail = queries.payment_detail(db, payment_id, None, full=True)
        cases = review.cases_for(db, payment_id)
    return render_template(
        "admin/payment.html",
        d=detail,
        cases=cases,
        actions=review.ACTIONS,
        threshold=config().two_admin_threshold_paise,
        rupees=analytics.rupees,
        ist=IST,
    )


@bp.get("/review")
@admin_required
def review_queue() -> ResponseReturnValue:
    """Held payments with their reasons and cases; approvals; open cases."""
    with unit_of_work() as db:
        held = review.held_payments(db)
        parked = parked_withdrawals(db)
        approvals = review.pending_approvals(db)
        cases = list_cases(db)
    return render_template(
        "admin/review.html",
        held=held,
        withdrawals=parked,
        withdrawal_actions=withdrawal_review.ACTIONS,
        inr_value=inr_value,
        review_reasons=review_reasons,
        crypto=crypto,
        approvals=approvals,
        cases=cases,
        actions={**review.ACTIONS, **withdrawal_review.ACTIONS},
        threshold=config().two_admin_threshold_paise,
        me=admin(),
        rupees=analytics.rupees,
    )


@bp.post("/review/<payment_id>/action")
@admin_required
def review_action(payment_id: str) -> ResponseReturnValue:
    """Retry settlement, refund or mark resolved (a second admin above the threshold)."""
    return _queue_action(review.request_action, payment_id)


@bp.post("/review/withdrawals/<int:withdrawal_id>/action")
@admin_required
def withdrawal_action(withdrawal_id: int) -> ResponseReturnValue:
    """Approve (send) or reject a parked withdrawal (a second admin above the threshold)."""
    return _queue_action(withdrawal_review.request_action, withdrawal_id)


def _queue_action(request_action: Callable[..., Outcome], subject: Any) -> ResponseReturnValue:
    """Run a review-queue form's action on ``subject``; the outcome or the refusal is flashed."""
    try:
        with unit_of_work() as db:
            outcome = request_action(
                db,
                request.form.get("action", ""),
                subject,
                admin=db.get_one(type(admin()), admin().id),
                reason=request.form.get("reason", ""),
                config=config(),
                now=utcnow(),
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.review_queue"))
    flash(outcome.message.capitalize() + ".", "info")
    return redirect(url_for("admin.review_queue"))


@bp.post("/approvals/<int:approval_id>/approve")
@admin_required
def approve(approval_id: int) -> ResponseReturnValue:
    try:
        with unit_of_work() as db:
            outcome = review.approve(
                db, approval_id, admin=db.get_one(type(admin()), admin().id), now=utcnow()
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.review_queue"))
    flash(f"Approved: {outcome.message}.", "info" if outcome.executed else "error")
    return redirect(url_for("admin.review_queue"))


@bp.post("/approvals/<int:approval_id>/reject")
@admin_required
def reject(approval_id: int) -> ResponseReturnValue:
    try:
        with unit_of_work() as db:
            review.reject(
                db,
                approval_id,
                admin=db.get_one(type(admin()), admin().id),
                reason=request.form.get("reason", ""),
                now=utcnow(),
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.review_queue"))
    flash("Request declined.", "info")
    return redirect(url_for("admin.review_queue"))


@bp.post("/cases/<int:case_id>/resolve")
@admin_required
def resolve(case_id: int) -> ResponseReturnValue:
    """Close a review case that names no held payment (e.g. a sanctions hit on a VPA)."""
    try:
        with unit_of_work() as db:
            resolve_case(
                db,
                case_id,
                admin=db.get_one(type(admin()), admin().id),
                resolution=request.form.get("reason", ""),
                now=utcnow(),
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.review_queue"))
    flash("Case resolved.", "info")
    return redirect(url_for("admin.review_queue"))
