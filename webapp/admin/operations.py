"""Settlements and float, exchange accounts, system health."""

from __future__ import annotations

from typing import Any

import httpx
from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from wallet.admin import exchange_accounts, overview
from wallet.db.base import utcnow
from wallet.devkeys import master_key
from wallet.errors import WalletError
from wallet.merchants import analytics, sealed
from webapp.admin.common import admin, admin_required, bp, config, dagster_url
from webapp.extensions import settings, unit_of_work
from webapp.security import reauth_required

CHAINS = ("ethereum", "solana", "bitcoin", "dogecoin")
_HEAD_CALLS: dict[str, tuple[str, str]] = {
    "ethereum": ("eth_rpc_url", "eth_blockNumber"),
    "solana": ("sol_rpc_url", "getBlockHeight"),
    "bitcoin": ("btc_rpc_url", "getblockcount"),
    "dogecoin": ("doge_rpc_url", "getblockcount"),
}


def chain_head(chain: str) -> int | None:
    """The node's current height over JSON-RPC (1 s budget), or None."""
    setting, method = _HEAD_CALLS.get(chain, ("", ""))
    url = getattr(settings(), setting, None)
    if not url or not current_app.config.get("ADMIN_PROBE_CHAINS", True):
        return None
    try:
        response = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []},
            timeout=1.0,
            trust_env=False,
        )
        result: Any = response.json().get("result")
    except (httpx.HTTPError, ValueError):
        return None
    if isinstance(result, str) and result.startswith("0x"):
        return int(result, 16)
    return result if isinstance(result, int) else None


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
    kms = sealed.key_manager(master_key(settings()))
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
    """Chain scan heads and lag, rate ages, paused assets, outbox backlog, Dagster."""
    now = utcnow()
    with unit_of_work() as db:
        cursors = overview.chain_health(db, None, CHAINS)
        rates = overview.rate_ages(db, now)
        pauses = overview.open_pauses(db)
        backlog = overview.outbox_backlog(db)
    # Network probes run with no transaction open.
    chains = [
        overview.ChainHealth(c.name, c.scanned_height, c.scanned_at, chain_head(c.name))
        for c in cursors
    ]
    dagster = overview.dagster_health(dagster_url(), timeout_s=2.0)
    return render_template(
        "admin/health.html",
        chains=chains,
        rates=rates,
        pauses=pauses,
        backlog=backlog,
        dagster=dagster,
        max_age=settings().rate_max_age_seconds,
    )
