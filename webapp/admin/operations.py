"""Settlements and float, exchange accounts, system health."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from wallet.admin import exchange_accounts, overview
from wallet.db.base import utcnow
from wallet.devkeys import platform_kms
from wallet.errors import WalletError
from wallet.health import system_signals
from wallet.merchants import analytics
from webapp.admin.common import admin, admin_required, bp, config, dagster_url
from webapp.extensions import session_factory, settings, unit_of_work
from webapp.security import reauth_required

CHAINS = ("ethereum", "solana", "bitcoin", "dogecoin")


@bp.get("/float")
@admin_required
def float_page() -> ResponseReturnValue:
    """INR float, payouts in flight, venue inventory and wallet books (ledger)."""
    with unit_of_work() as db:
        positions = overview.positions(db)
    return render_template("admin/float.html", pos=positions, rupees=analytics.rupees)


@bp.get("/exchange-accounts")
@admin_required
def exchange_page() -> ResponseReturnValue:
    with unit_of_work() as db:
        accounts = exchange_accounts.list_accounts(db)
    return render_template(
        "admin/exchange_accounts.html", accounts=accounts, venues=config().venues
    )


@bp.post("/exchange-accounts")
@admin_required
@reauth_required()
def set_exchange_keys() -> ResponseReturnValue:
    """Add or rotate a venue's keys; they are sealed and never shown again."""
    kms = platform_kms(settings())
    try:
        with unit_of_work() as db:
            account = exchange_accounts.set_credentials(
                db,
                kms,
                request.form.get("venue", ""),
                request.form.get("api_key"),
                request.form.get("api_secret"),
                venues=config().venues,
                actor=f"admin:{admin().id}",
                now=utcnow(),
                label=request.form.get("label") or None,
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.exchange_page"))
    flash(f"Keys for {account.venue} saved (…{(account.key_hint or '')[-4:]}).", "info")
    return redirect(url_for("admin.exchange_page"))


@bp.post("/exchange-accounts/<venue>/toggle")
@admin_required
def toggle_venue(venue: str) -> ResponseReturnValue:
    enable = request.form.get("enabled") == "1"
    try:
        with unit_of_work() as db:
            exchange_accounts.set_enabled(db, venue, enable, actor=f"admin:{admin().id}")
    except WalletError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.exchange_page"))
    flash(f"{venue} {'enabled' if enable else 'disabled'}.", "info")
    return redirect(url_for("admin.exchange_page"))


@bp.get("/health")
@admin_required
def health() -> ResponseReturnValue:
    """The signals alerting watches (:func:`wallet.health.system_signals`), plus chain
    scan detail, rate ages, the outbox by topic and Dagster's daemons and failed runs."""
    now = utcnow()
    app = current_app
    signals = system_signals(
        settings(),
        session_factory(),
        engine=app.extensions["engine"],
        heartbeats=app.extensions.get("ops.heartbeats"),
        now=now,
        probe_chains=app.config.get("ADMIN_PROBE_CHAINS", True),
    )
    with unit_of_work() as db:
        cursors = overview.chain_health(db, None, CHAINS)
        rates = overview.rate_ages(db, now)
        pauses = overview.open_pauses(db)
        backlog = overview.outbox_backlog(db)
    components = signals["components"]
    chains = [
        overview.ChainHealth(
            c.name, c.scanned_height, c.scanned_at, components.get(c.name, {}).get("value")
        )
        for c in cursors
    ]
    dagster = overview.dagster_health(dagster_url(), timeout_s=2.0)
    return render_template(
        "admin/health.html",
        signals=signals,
        components=components,
        chains=chains,
        rates=rates,
        pauses=pauses,
        backlog=backlog,
        dagster=dagster,
        max_age=settings().rate_max_age_seconds,
        rupees=analytics.rupees,
    )
