"""The payer's PWA pages (issue 7, "The PWA"): mobile first, no inline script.

Every page works as plain server-rendered forms (CSRF on each); the
scripts in ``static/js`` only enhance them: camera decoding, auto-quote on
picking a coin, the countdown and the live status poll. Pages share
:mod:`webapp.pay.service` with the REST API, so both always agree.
"""

from __future__ import annotations

import secrets

import segno
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from wallet.assets import CRYPTO_ASSETS, get_asset
from wallet.chains.addresses import validate_address
from wallet.chains.networks import network
from wallet.custody.deposits_view import recent_deposits
from wallet.errors import WalletError
from wallet.money import format_minor
from webapp.api.deposits_routes import deposit_out
from webapp.api.wallet_routes import wallet_balances
from webapp.device import browser_device_id, register_device_cookie
from webapp.extensions import unit_of_work
from webapp.pay import custody, service, withdrawals
from webapp.pay.pricing import indicative_minor, rate_cache
from webapp.pay.schemas import crypto, payment_out, quote_out
from webapp.security import login_required, reauth_required, signed_in

bp = Blueprint("pay", __name__)
register_device_cookie(bp)  # the per-device risk limits' id for this browser

STATUS_FILTERS = ("active", "paid", "problem")


def _user_id() -> int:
    user, _row = signed_in()
    return user.id


def _message(exc: WalletError) -> str:
    return f"{exc.message} ({exc.code})"


@bp.get("/wallet")
@login_required
def home() -> ResponseReturnValue:
    """Balances with their rupee value, and the latest payment steps."""
    user_id = _user_id()
    rate_cache()  # wallet_balances reads app.extensions["rate_cache"] for the rupee values
    recent, _next = service.list_payments(user_id, limit=5)
    return render_template(
        "pay/home.html",
        balances=wallet_balances(user_id),
        recent=recent,
        inr=lambda paise: format_minor(paise, 2),
    )


@bp.get("/pay/scan")
@login_required
def scan() -> ResponseReturnValue:
    """Camera, photo or pasted link; the code goes to :func:`start`."""
    return render_template("pay/scan.html", code="")


def _payee_page(code: str, payee: service.Payee, amount_inr: str = "") -> str:
    options = []
    for symbol in CRYPTO_ASSETS:
        estimate = None
        if payee.amount_paise is not None:
            minor = indicative_minor(symbol, payee.amount_paise)
            estimate = None if minor is None else crypto(symbol, minor)
        options.append({"symbol": symbol, "name": get_asset(symbol).name, "estimate": estimate})
    fixed = None if payee.amount_paise is None else format_minor(payee.amount_paise, 2)
    return render_template(
        "pay/payee.html",
        code=code,
        payee=payee,
        fixed_amount=fixed,
        amount_inr=amount_inr,
        options=options,
    )


@bp.post("/pay/start")
@login_required
def start() -> ResponseReturnValue:
    """Read the code: who it pays, how much (or ask), and the coins to pick from."""
    code = request.form.get("code", "").strip()
    try:
        payee = service.resolve_code(code)
    except WalletError as exc:
        flash(_message(exc), "error")
        return render_template("pay/scan.html", code=code[:2048]), exc.http_status
    return _payee_page(code, payee)


@bp.post("/pay/quote")
@login_required
def quote() -> ResponseReturnValue:
    """Lock a price for the chosen coin and show it with its countdown."""
    form = request.form
    code = form.get("code", "")
    try:
        payee = service.resolve_code(code)
    except WalletError as exc:
        flash(_message(exc), "error")
        return render_template("pay/scan.html", code=code[:2048]), exc.http_status
    amount_inr = form.get("amount_inr", "")
    try:
        paise = service.amount_for(payee, amount_inr)
        new = service.new_quote(_user_id(), payee, paise, form.get("asset", ""))
    except WalletError as exc:
        flash(_message(exc), "error")
        return _payee_page(code, payee, amount_inr), exc.http_status
    return redirect(url_for("pay.show_quote", quote_id=new.id), code=303)


@bp.get("/pay/quotes/<quote_id>")
@login_required
def show_quote(quote_id: str) -> ResponseReturnValue:
    found = service.get_quote(_user_id(), quote_id)
    if found is None:
        abort(404)
    return render_template(
        "pay/quote.html", quote=quote_out(found), assets=CRYPTO_ASSETS, quote_id=found.id
    )


@bp.post("/pay/quotes/<quote_id>/requote")
@login_required
def requote(quote_id: str) -> ResponseReturnValue:
    """A fresh price for the same payee and amount (optionally in another coin)."""
    user_id = _user_id()
    old = service.get_quote(user_id, quote_id)
    if old is None:
        abort(404)
    # Keep the merchant link: the payment on the new quote must still consume it.
    payee = service.Payee(
        old.payee_vpa, old.payee_name, old.amount_inr_paise, link_id=old.merchant_link_id
    )
    try:
        new = service.new_quote(user_id, payee, old.amount_inr_paise, form_asset(old.asset))
    except WalletError as exc:
        flash(_message(exc), "error")
        return redirect(url_for("pay.show_quote", quote_id=quote_id), code=303)
    return redirect(url_for("pay.show_quote", quote_id=new.id), code=303)


def form_asset(default: str) -> str:
    return request.form.get("asset") or default


@bp.post("/pay/quotes/<quote_id>/confirm")
@login_required
def confirm(quote_id: str) -> ResponseReturnValue:
    """Pay the quote from the wallet balance; an expired quote moves nothing."""
    source = request.form.get("source", "custodial")
    if source not in ("custodial", "external"):
        abort(400, description="source must be custodial or external")
    try:
        payment_id, _created = service.pay(
            _user_id(), quote_id, source, device_id=browser_device_id()
        )
    except WalletError as exc:
        if exc.http_status == 404:
            abort(404)
        flash(_message(exc), "error")
        return redirect(url_for("pay.show_quote", quote_id=quote_id), code=303)
    return redirect(url_for("pay.payment", payment_id=payment_id), code=303)


@bp.get("/pay/payments/<payment_id>")
@login_required
def payment(payment_id: str) -> ResponseReturnValue:
    """Live status until the vendor is paid, then the receipt."""
    detail = service.payment_detail(_user_id(), payment_id)
    if detail is None:
        abort(404)
    out = payment_out(detail)
    qr = segno.make(out.pay_to.uri, error="m").svg_data_uri(scale=4) if out.pay_to else None
    return render_template(
        "pay/payment.html", p=out, reasons={e.version: e.reason for e in detail.events}, qr=qr
    )


@bp.get("/pay/history")
@login_required
def history() -> ResponseReturnValue:
    """The payer's payments with status and coin filters, newest first; latest withdrawals."""
    status = request.args.get("status") or None
    asset = request.args.get("asset") or None
    if status is not None and status not in STATUS_FILTERS:
        status = None
    if asset is not None and asset not in CRYPTO_ASSETS:
        asset = None
    user_id, cursor = _user_id(), request.args.get("cursor") or None
    try:
        rows, next_cursor = service.list_payments(
            user_id, cursor=cursor, status=status, asset=asset
        )
    except WalletError as exc:
        abort(400, description=exc.message)
    return render_template(
        "pay/history.html",
        payments=rows,
        next_cursor=next_cursor,
        status=status,
        asset=asset,
        filters=STATUS_FILTERS,
        assets=CRYPTO_ASSETS,
        withdrawals=[] if cursor else withdrawals.list_withdrawals(user_id),
        explorer_url=custody.explorer_url,
        crypto=crypto,
        inr=lambda paise: format_minor(paise, 2),
    )


@bp.get("/pay/receive")
@login_required
def receive() -> ResponseReturnValue:
    """The payer's deposit address for a coin (text, QR, wallet link) and its deposits."""
    asset = request.args.get("asset", "SOL")
    if asset not in CRYPTO_ASSETS:
        abort(404)
    user_id = _user_id()
    # Its own short transaction: nothing stays open while the page renders (SQLite lock).
    with unit_of_work() as db:
        deposits = [deposit_out(d) for d in recent_deposits(db, user_id, asset)]
    page = {"asset": asset, "assets": CRYPTO_ASSETS, "deposits": deposits}
    try:
        found = custody.deposit_address(user_id, asset)
    except WalletError as exc:
        flash(_message(exc), "error")
        return render_template("pay/receive.html", found=None, **page)
    qr = segno.make(found.uri, error="m").svg_data_uri(scale=5)
    return render_template("pay/receive.html", found=found, qr=qr, **page)


@bp.get("/pay/withdraw")
@login_required
@reauth_required()
def withdraw() -> ResponseReturnValue:
    return render_template("pay/withdraw.html", assets=CRYPTO_ASSETS, form={})


@bp.post("/pay/withdraw")
@login_required
@reauth_required()
def withdraw_review() -> ResponseReturnValue:
    """Check the request and show it back for a second, explicit confirmation."""
    form = {k: request.form.get(k, "").strip() for k in ("asset", "address", "amount")}
    try:
        minor = withdrawals.parse_amount(form["asset"], form["amount"])
        info = get_asset(form["asset"])
        address = validate_address(network(info.chain, custody.kind()), form["address"])
    except WalletError as exc:
        flash(_message(exc), "error")
        return render_template("pay/withdraw.html", assets=CRYPTO_ASSETS, form=form), 400
    return render_template(
        "pay/withdraw_confirm.html",
        asset=info.symbol,
        address=address,
        amount=crypto(info.symbol, minor),
        key=secrets.token_urlsafe(16),
    )


@bp.post("/pay/withdraw/confirm")
@login_required
@reauth_required()
def withdraw_confirm() -> ResponseReturnValue:
    """Hold the coins and queue the send; a double submit holds once (the form's key)."""
    user_id = _user_id()
    form = {k: request.form.get(k, "").strip() for k in ("asset", "address", "amount", "key")}
    try:
        minor = withdrawals.parse_amount(form["asset"], form["amount"])
        key = withdrawals.withdrawal_key(user_id, "web:" + form["key"] if form["key"] else None)
        row = withdrawals.request_withdrawal(
            user_id, form["asset"], form["address"], minor, key, device_id=browser_device_id()
        )
    except WalletError as exc:
        flash(_message(exc), "error")
        return render_template("pay/withdraw.html", assets=CRYPTO_ASSETS, form=form), 400
    return render_template(
        "pay/withdraw_done.html", row=row, amount=crypto(row.asset, row.amount_minor)
    )


@bp.get("/pay/notices")
@login_required
def notices() -> ResponseReturnValue:
    """In-app notices (the latest steps of the payer's payments) and push sign-up."""
    return render_template("pay/notices.html", notices=service.recent_events(_user_id()))
