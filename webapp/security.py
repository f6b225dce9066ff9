"""Who is asking, and is this form really theirs: sessions and CSRF.

- The browser's session cookie (signed by Flask, HttpOnly, SameSite=Lax,
  Secure in production) carries a random server-session token and a CSRF
  token. The server-side row (:mod:`wallet.accounts.sessions`) decides
  whether the token is still signed in, so sign-out takes effect at once.
- CSRF: every unsafe request that rides on the cookie must echo the CSRF
  token, as the ``csrf_token`` form field or an ``X-CSRF-Token`` header
  (the synchroniser-token pattern). API calls with a bearer token carry no
  ambient credentials and are exempt; so are API calls with no signed-in
  cookie (they must send JSON, which a cross-site form cannot).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, abort, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from wallet.accounts import sessions as user_sessions
from wallet.accounts.models import UserSession
from wallet.db.models.users import Role, User
from webapp.extensions import unit_of_work

CSRF_KEY = "_csrf"
SID_KEY = "sid"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NO_SESSION_ENDPOINTS = frozenset({"static", "health.healthz", "pwa.jsqr", "pwa.service_worker"})

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


def csrf_token() -> str:
    """This browser's CSRF token (created on first use)."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def _csrf_ok() -> bool:
    expected = session.get(CSRF_KEY)
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


def client_ip() -> str:
    """The client address (deploy behind ProxyFix so this is the real one)."""
    return request.remote_addr or "unknown"


def current_user() -> User | None:
    user: User | None = g.get("user")
    return user


def current_session() -> UserSession | None:
    row: UserSession | None = g.get("user_session")
    return row


def signed_in() -> tuple[User, UserSession]:
    """The signed-in user and session, or 401 (for views behind login_required)."""
    user, row = current_user(), current_session()
    if user is None or row is None:
        abort(401)
    return user, row


def has_bearer() -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


def _load_user() -> None:
    g.user = None
    g.user_session = None
    token = session.get(SID_KEY)
    if token is None or request.endpoint in _NO_SESSION_ENDPOINTS:
        return
    with unit_of_work() as db:
        row = user_sessions.resolve_session(db, token)
        user = db.get(User, row.user_id) if row is not None else None
    if row is None or user is None:
        session.pop(SID_KEY, None)
        return
    g.user, g.user_session = user, row


def _check_csrf() -> None:
    if request.method not in UNSAFE_METHODS:
        return
    if request.path.startswith("/api/") and (has_bearer() or current_user() is None):
        return
    if request.path.startswith("/webhooks/"):
        return  # provider callbacks: no cookie; authenticated by their body signature
    if not _csrf_ok():
        abort(403, description="The form expired or did not come from this site; try again.")


def register_security(app: Flask) -> None:
    """Load the signed-in user and enforce CSRF before every request."""
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_user"] = current_user


def sign_in(user: User, new: user_sessions.NewSession) -> None:
    """Put a fresh server session into a fresh cookie (no fixation)."""
    session.clear()
    session.permanent = True
    session[SID_KEY] = new.token
    csrf_token()
    g.user, g.user_session = user, new.row


def sign_out_cookie() -> None:
    session.clear()
    g.user = None
    g.user_session = None


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: an open redirect would make phishing links look like ours."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target


def login_required(view: F) -> F:
    """Browsers that are not signed in go to the sign-in page."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def role_required(*roles: Role) -> Callable[[F], F]:
    """Only these roles; anyone else gets 404 (the page does not exist for them)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if user.role not in roles:
                abort(404)
            return view(*args, **kwargs)

        return cast(F, login_required(cast(F, wrapped)))

    return decorate


def reauth_required(window: timedelta = user_sessions.REAUTH_WINDOW) -> Callable[[F], F]:
    """Sensitive changes need the password typed within ``window``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            row = current_session()
            if row is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not user_sessions.recently_authenticated(row, window=window):
                if request.method == "GET":
                    back = request.full_path.rstrip("?")
                else:
                    back = safe_next(request.referrer and urlsplit(request.referrer).path)
                return redirect(url_for("auth.reauth", next=back))
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate
