"""Sign-up, sign-in and account security pages (issue 7, "Accounts and sessions").

Forms carry the CSRF token; sign-in mints a new server session and cookie;
sign-out ends the server session; the account page lists the user's own
sessions and API tokens and offers "sign out everywhere", which (like
creating a token) needs the password typed within the last few minutes.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from wallet.accounts import service, tokens
from wallet.accounts import sessions as user_sessions
from wallet.accounts.errors import AccountError, InvalidCredentials, LoginThrottled
from wallet.db.models.users import User
from webapp.extensions import unit_of_work
from webapp.ratelimit import limited
from webapp.security import (
    client_ip,
    current_session,
    login_required,
    reauth_required,
    safe_next,
    sign_in,
    sign_out_cookie,
    signed_in,
)

bp = Blueprint("auth", __name__)


def _start(user: User) -> None:
    with unit_of_work() as db:
        new = user_sessions.start_session(
            db, user, ip=client_ip(), user_agent=request.headers.get("User-Agent")
        )
    sign_in(user, new)


@bp.route("/signup", methods=["GET", "POST"])
@limited("auth")
def signup() -> ResponseReturnValue:
    """Create a payer or merchant account and sign it in."""
    if request.method == "GET":
        return render_template("auth/signup.html", form={})
    form = request.form
    try:
        with unit_of_work() as db:
            user = service.sign_up(
                db, form.get("email", ""), form.get("password", ""), form.get("role", "payer")
            )
    except AccountError as exc:
        flash(exc.message, "error")
        status = exc.http_status
        return render_template("auth/signup.html", form={"email": form.get("email", "")}), status
    _start(user)
    return redirect(url_for("pwa.home"))


@bp.route("/login", methods=["GET", "POST"])
@limited("auth")
def login() -> ResponseReturnValue:
    """Sign in; a wrong password or throttling re-renders the form."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("auth/login.html", next=next_url, email="")
    email = request.form.get("email", "")
    failure: AccountError | None = None
    with unit_of_work() as db:
        try:
            user = service.authenticate(
                db, email, request.form.get("password", ""), client_ip=client_ip()
            )
        except (InvalidCredentials, LoginThrottled) as exc:
            failure = exc  # the failure count must be committed
    if failure is not None:
        flash(failure.message, "error")
        page = render_template("auth/login.html", next=next_url, email=email)
        headers = {}
        if isinstance(failure, LoginThrottled):
            headers["Retry-After"] = str(failure.retry_after)
        return page, failure.http_status, headers
    _start(user)
    return redirect(next_url)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End this session on the server and forget the cookie."""
    row = current_session()
    if row is not None:
        with unit_of_work() as db:
            live = db.get(type(row), row.id)
            if live is not None:
                user_sessions.end_session(db, live)
    sign_out_cookie()
    response = redirect(url_for("auth.login"))
    # Drop anything the service worker cached for this user on this device.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.route("/reauth", methods=["GET", "POST"])
@login_required
def reauth() -> ResponseReturnValue:
    """Ask for the password again before a sensitive change."""
    next_url = safe_next(request.values.get("next"), url_for("auth.account"))
    if request.method == "GET":
        return render_template("auth/reauth.html", next=next_url)
    user, row = signed_in()
    try:
        with unit_of_work() as db:
            live = db.get(type(row), row.id)
            if live is None:  # pragma: no cover - the row outlives the request
                return redirect(url_for("auth.login"))
            user_sessions.reauthenticate(db, live, user, request.form.get("password", ""))
    except InvalidCredentials as exc:
        flash(exc.message, "error")
        return render_template("auth/reauth.html", next=next_url), 401
    return redirect(next_url)


@bp.get("/account")
@login_required
def account() -> ResponseReturnValue:
    """The user's own sessions and API tokens."""
    user, row = signed_in()
    with unit_of_work() as db:
        live_sessions = user_sessions.active_sessions(db, user.id)
        api_tokens = tokens.list_tokens(db, user.id)
    return render_template(
        "auth/account.html",
        sessions=live_sessions,
        tokens=api_tokens,
        current_id=row.id,
        new_token=None,
    )


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int) -> ResponseReturnValue:
    """Sign out one of the user's own other devices."""
    user, _row = signed_in()
    with unit_of_work() as db:
        user_sessions.end_own_session(db, user.id, session_id)
    flash("That device is signed out.", "info")
    return redirect(url_for("auth.account"))


@bp.post("/account/logout-everywhere")
@login_required
@reauth_required()
def logout_everywhere() -> ResponseReturnValue:
    """End every session of this user, this one included."""
    user, _row = signed_in()
    with unit_of_work() as db:
        user_sessions.end_all_sessions(db, user.id)
    sign_out_cookie()
    flash("You are signed out on every device.", "info")
    response = redirect(url_for("auth.login"))
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.post("/account/tokens")
@login_required
@reauth_required()
def create_token() -> ResponseReturnValue:
    """Create an API token and show it once (never stored in plain text)."""
    user, row = signed_in()
    with unit_of_work() as db:
        issued = tokens.issue_token(db, user, request.form.get("name", "web"))
        live_sessions = user_sessions.active_sessions(db, user.id)
        api_tokens = tokens.list_tokens(db, user.id)
    page = render_template(
        "auth/account.html",
        sessions=live_sessions,
        tokens=api_tokens,
        current_id=row.id,
        new_token=issued.token,
    )
    # The page holds a secret: no cache may keep it.
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of the user's own tokens (another user's is 404)."""
    user, _row = signed_in()
    with unit_of_work() as db:
        tokens.revoke_token(db, user.id, token_id)
    flash("Token revoked.", "info")
    return redirect(url_for("auth.account"))
