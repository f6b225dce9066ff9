"""Users: KYC tier, status and limits, freeze/unfreeze, merchants, the audit log."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from wallet.admin import users
from wallet.db.base import utcnow
from wallet.db.models.users import MerchantStatus
from wallet.errors import WalletError
from wallet.merchants import analytics
from wallet.risk.config import RiskConfig
from webapp.admin.common import admin, admin_required, bp
from webapp.extensions import settings, unit_of_work

AUDIT_FILTERS = ("actor", "subject_type", "subject_id", "action")


@bp.get("/users")
@admin_required
def users_page() -> ResponseReturnValue:
    q = request.args.get("q", "").strip() or None
    with unit_of_work() as db:
        rows = users.search_users(db, q)
    return render_template("admin/users.html", rows=rows, q=q or "")


@bp.get("/users/<int:user_id>")
@admin_required
def user_page(user_id: int) -> ResponseReturnValue:
    with unit_of_work() as db:
        view = users.user_view(
            db, user_id, config=RiskConfig.from_settings(settings()), now=utcnow()
        )
        trail = users.audit_log(db, subject_type="user", subject_id=str(user_id), limit=50)
        acted = users.audit_log(db, actor=f"user:{user_id}", limit=50)
    return render_template(
        "admin/user.html", v=view, trail=trail, acted=acted, rupees=analytics.rupees
    )


@bp.post("/users/<int:user_id>/<any(freeze, unfreeze):what>")
@admin_required
def freeze(user_id: int, what: str) -> ResponseReturnValue:
    """Freeze: no new payments or withdrawals (balances stay). Audited with a reason."""
    try:
        with unit_of_work() as db:
            users.set_frozen(
                db,
                user_id,
                what == "freeze",
                admin=db.get_one(type(admin()), admin().id),
                reason=request.form.get("reason", ""),
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.user_page", user_id=user_id))
    flash("Account frozen." if what == "freeze" else "Account unfrozen.", "info")
    return redirect(url_for("admin.user_page", user_id=user_id))


@bp.post("/merchants/<int:merchant_id>/status")
@admin_required
def merchant_status(merchant_id: int) -> ResponseReturnValue:
    user_id = request.form.get("user_id", type=int)
    try:
        status = MerchantStatus(request.form.get("status", ""))
        with unit_of_work() as db:
            users.set_merchant_status(
                db,
                merchant_id,
                status,
                admin=db.get_one(type(admin()), admin().id),
                reason=request.form.get("reason", ""),
            )
    except ValueError:
        flash("Unknown merchant status.", "error")
    except WalletError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Merchant is now {status.value}.", "info")
    return redirect(
        url_for("admin.user_page", user_id=user_id) if user_id else url_for("admin.users_page")
    )


@bp.get("/audit")
@admin_required
def audit() -> ResponseReturnValue:
    """The audit log, newest first, filtered by actor, subject or action prefix."""
    args = {k: (request.args.get(k) or "").strip() for k in AUDIT_FILTERS}
    with unit_of_work() as db:
        rows = users.audit_log(
            db,
            actor=args["actor"] or None,
            subject_type=args["subject_type"] or None,
            subject_id=args["subject_id"] or None,
            action=args["action"] or None,
        )
    return render_template("admin/audit.html", rows=rows, args=args)
