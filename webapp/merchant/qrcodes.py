"""QR codes: the static sticker and dynamic payment links (issue 8, "QR codes").

``/m/<id>`` is public: it is what a dynamic QR encodes. It opens the
payer's flow (the ``pay`` blueprint's link view when it is installed) or,
until then, a page that names the payee and amount and hands the link to
the scan page.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from wallet.db.base import utcnow
from wallet.errors import WalletError
from wallet.merchants import analytics, links, qr
from wallet.merchants.errors import LinkUnavailable
from wallet.upi import parse_amount_paise
from webapp.extensions import unit_of_work
from webapp.merchant.common import (
    actor,
    bp,
    config,
    current_merchant,
    links_bp,
    merchant_required,
)

# The payer flow's "read this code" endpoint, newest first (pwa.scan is the shell's).
PAYER_START_ENDPOINTS = ("pay.start", "pwa.scan")
TTL_CHOICES = {"15m": 15 * 60, "1h": 3600, "1d": 86400, "7d": 7 * 86400}


def link_url(link_id: str) -> str:
    """The absolute ``/m/<id>`` URL a dynamic QR encodes."""
    return url_for("merchant_links.open_link", link_id=link_id, _external=True)


def _svg(body: str) -> Response:
    return Response(
        body, mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=300"}
    )


@bp.get("/qr")
@merchant_required
def qr_page() -> ResponseReturnValue:
    """The printable static sticker, and the dynamic-QR form with recent links."""
    merchant = current_merchant()
    now = utcnow()
    with unit_of_work() as db:
        recent = links.list_links(db, merchant.id, limit=20)
    sticker = qr.sticker_svg(
        merchant.display_name, merchant.upi_vpa, qr.upi_uri(merchant.upi_vpa, merchant.display_name)
    )
    return render_template(
        "merchant/qr.html",
        merchant=merchant,
        sticker=sticker,
        links=recent,
        state=lambda link: links.link_state(link, now),
        rupees=analytics.rupees,
        ttl_choices=TTL_CHOICES,
    )


@bp.get("/qr/sticker.<kind>")
@merchant_required
def sticker(kind: str) -> ResponseReturnValue:
    """The static UPI QR as a printable SVG sticker or a bare PNG."""
    merchant = current_merchant()
    uri = qr.upi_uri(merchant.upi_vpa, merchant.display_name)
    if kind == "svg":
        response = _svg(qr.sticker_svg(merchant.display_name, merchant.upi_vpa, uri))
    elif kind == "png":
        response = Response(qr.qr_png(uri), mimetype="image/png")
    else:
        abort(404)
    response.headers["Content-Disposition"] = f'inline; filename="upi-sticker.{kind}"'
    return response


@bp.post("/links")
@merchant_required
def create_link() -> ResponseReturnValue:
    """A dynamic QR for an amount (rupees) with an optional note and expiry."""
    merchant = current_merchant()
    ttl = TTL_CHOICES.get(request.form.get("expires_in", "15m"))
    try:
        if ttl is None:
            raise WalletError("choose an expiry from the list", code="invalid_expiry")
        amount = parse_amount_paise(
            request.form.get("amount", ""), max_paise=config().link_max_paise
        )
        with unit_of_work() as db:
            link = links.create_link(
                db,
                merchant,
                amount_paise=amount,
                note=request.form.get("note"),
                expires_in=ttl,
                now=utcnow(),
                config=config(),
                actor=actor(),
            )
    except WalletError as exc:
        flash(exc.message, "error")
        return redirect(url_for("merchant.qr_page"))
    return redirect(url_for("merchant.link_page", link_id=link.id))


@bp.get("/links/<link_id>")
@merchant_required
def link_page(link_id: str) -> ResponseReturnValue:
    """One dynamic QR, to show the customer (full-screen friendly)."""
    merchant = current_merchant()
    with unit_of_work() as db:
        link = links.get_link(db, merchant.id, link_id)
    url = link_url(link.id)
    return render_template(
        "merchant/link.html",
        link=link,
        url=url,
        qr_svg=qr.qr_svg(url, scale=8),
        state=links.link_state(link, utcnow()),
        rupees=analytics.rupees,
    )


@bp.post("/links/<link_id>/cancel")
@merchant_required
def cancel_link(link_id: str) -> ResponseReturnValue:
    merchant = current_merchant()
    with unit_of_work() as db:
        links.cancel_link(db, merchant.id, link_id, actor=actor())
    flash("The payment link is cancelled.", "info")
    return redirect(url_for("merchant.qr_page"))


@links_bp.get("/m/<link_id>")
def open_link(link_id: str) -> ResponseReturnValue:
    """What a dynamic QR opens: who and how much, then the payer's flow for this link."""
    try:
        with unit_of_work() as db:
            view = links.resolve_link(db, link_id, now=utcnow())
    except LinkUnavailable as exc:
        return render_template("merchant/link_public.html", view=None, error=exc.message), 410
    return render_template(
        "merchant/link_public.html",
        view=view,
        error=None,
        url=link_url(view.id),
        start=next(e for e in PAYER_START_ENDPOINTS if e in current_app.view_functions),
        rupees=analytics.rupees,
    )


def resolve_for_payer(session: Session, link_id: str) -> Any:
    """The payer flow's resolver (``app.extensions["merchant_links"]``): a live
    link's payee and fixed amount, or None."""
    from webapp.pay.service import Payee

    try:
        view = links.resolve_link(session, link_id, now=utcnow())
    except LinkUnavailable:
        return None
    return Payee(view.payee_vpa, view.payee_name, view.amount_paise, view.note, None)


@links_bp.record_once
def _install_resolver(state: BlueprintSetupState) -> None:
    state.app.extensions.setdefault("merchant_links", resolve_for_payer)


@links_bp.get("/m/<link_id>/qr.svg")
def link_qr(link_id: str) -> ResponseReturnValue:
    """The QR image of a link (public: it encodes only the public link URL)."""
    with unit_of_work() as db:
        exists = links.link_exists(db, link_id)
    if not exists:
        abort(404)
    return _svg(qr.qr_svg(link_url(link_id), scale=8))
