"""Dashboard, sign-up profile and the payout VPA (issue 8, "Merchant dashboard").

The VPA is checked in two steps: the format and RazorpayX's fund-account
validation first (showing the bank's registered name), then the merchant
confirms. A change needs the password typed recently, notifies the
merchant and waits out the cooling-off period before payouts use it.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from wallet.db.base import utcnow
from wallet.db.models.users import Role
from wallet.errors import WalletError
from wallet.merchants import analytics, profile, queries
from wallet.merchants.queries import PaymentFilters
from webapp.extensions import unit_of_work
from webapp.merchant.common import (
    actor,
    bp,
    config,
    current_merchant,
    merchant_required,
    razorpayx,
)
from webapp.security import reauth_required, role_required, safe_next, signed_in


def _check(vpa: str, name: str, reference: str) -> profile.VpaCheck:
    """RazorpayX validation, outside any transaction (a network call)."""
    with razorpayx() as client:
        return profile.check_vpa(client, vpa, contact_name=name, reference_id=reference)


@bp.get("/")
@merchant_required
def dashboard() -> ResponseReturnValue:
    """Today's and this month's takings, the daily chart and the latest payments."""
    merchant = current_merchant()
    now = utcnow()
    with unit_of_work() as db:
        profile.apply_due_vpa_changes(db, now=now, merchant_id=merchant.id)
    with unit_of_work() as db:
        live = db.get_one(type(merchant), merchant.id)
        totals = analytics.totals(db, merchant.id, now=now)
        volume = analytics.daily_volume(db, merchant.id, now=now, days=14)
        recent = queries.list_payments(db, merchant.id, PaymentFilters(), limit=10)
        pending = profile.pending_change(db, merchant.id)
    return render_template(
        "merchant/dashboard.html",
        merchant=live,
        totals=totals,
        chart=analytics.volume_svg(volume),
        recent=recent,
        pending=pending,
        rupees=analytics.rupees,
        ist=queries.IST,
    )


@bp.route("/setup", methods=["GET", "POST"])
@role_required(Role.MERCHANT)
def setup() -> ResponseReturnValue:
    """First-time profile: shop name and the VPA payouts go to (validated, confirmed)."""
    user, _row = signed_in()
    with unit_of_work() as db:
        existing = profile.merchant_for_user(db, user.id)
    if existing is not None:
        return redirect(url_for("merchant.dashboard"))
    form = {
        "display_name": request.form.get("display_name", ""),
        "vpa": request.form.get("vpa", ""),
    }
    if request.method == "GET":
        return render_template("merchant/setup.html", form=form, check=None)
    try:
        name = profile.clean_display_name(form["display_name"])
        check = _check(form["vpa"], name, f"user-{user.id}")
        if request.form.get("step") != "confirm":
            return render_template("merchant/setup.html", form=form, check=check)
        with unit_of_work() as db:
            live_user = db.get_one(type(user), user.id)
            profile.create_profile(db, live_user, name, check, now=utcnow())
    except WalletError as exc:
        flash(exc.message, "error")
        return render_template("merchant/setup.html", form=form, check=None), exc.http_status
    flash("Your shop is set up. Print your QR sticker next.", "info")
    return redirect(safe_next(request.args.get("next"), url_for("merchant.dashboard")))


def _profile_page(check: profile.VpaCheck | None = None, status: int = 200) -> ResponseReturnValue:
    merchant = current_merchant()
    with unit_of_work() as db:
        live = db.get_one(type(merchant), merchant.id)
        history = profile.payout_account_history(db, merchant.id)
        pending = profile.pending_change(db, merchant.id)
    page = render_template(
        "merchant/profile.html",
        merchant=live,
        history=history,
        pending=pending,
        check=check,
        cooling_hours=config().vpa_cooling_off_seconds // 3600,
    )
    return page, status


@bp.get("/profile")
@merchant_required
def profile_page() -> ResponseReturnValue:
    """Shop name, the payout VPA, any pending change and the VPA history."""
    return _profile_page()


@bp.post("/profile")
@merchant_required
def update_profile() -> ResponseReturnValue:
    merchant = current_merchant()
    try:
        with unit_of_work() as db:
            live = db.get_one(type(merchant), merchant.id)
            profile.update_display_name(
                db, live, request.form.get("display_name", ""), actor=actor()
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return _profile_page(status=exc.http_status)
    flash("Saved.", "info")
    return redirect(url_for("merchant.profile_page"))


@bp.post("/payout-vpa")
@merchant_required
@reauth_required()
def change_vpa() -> ResponseReturnValue:
    """Validate a new payout VPA (step ``check``), then schedule it (step ``confirm``)."""
    merchant = current_merchant()
    try:
        check = _check(
            request.form.get("vpa", ""), merchant.display_name, f"merchant-{merchant.id}"
        )
        if request.form.get("step") != "confirm":
            return _profile_page(check=check)
        with unit_of_work() as db:
            live = db.get_one(type(merchant), merchant.id)
            row = profile.request_vpa_change(
                db, live, check, actor=actor(), now=utcnow(), config=config()
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return _profile_page(status=exc.http_status)
    flash(
        f"Payouts will go to {row.vpa} from {row.effective_at:%d %b %Y %H:%M} UTC. "
        "We have notified you; cancel here if this was not you.",
        "info",
    )
    return redirect(url_for("merchant.profile_page"))


@bp.post("/payout-vpa/cancel")
@merchant_required
def cancel_vpa_change() -> ResponseReturnValue:
    merchant = current_merchant()
    with unit_of_work() as db:
        live = db.get_one(type(merchant), merchant.id)
        cancelled = profile.cancel_vpa_change(db, live, actor=actor(), now=utcnow())
    flash("The VPA change is cancelled." if cancelled else "No change was pending.", "info")
    return redirect(url_for("merchant.profile_page"))
