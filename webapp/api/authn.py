"""Who is calling the API: a bearer token, or the web app's signed-in session.

``Authorization: Bearer tfw_…`` is looked up by its SHA-256; a malformed,
unknown, revoked or expired token gets 401 ``unauthorized`` (the same answer
for each, so the API does not say which tokens exist). Without the header
the PWA's session cookie is accepted, with CSRF checked by
:mod:`webapp.security` for unsafe methods.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request
from flask.typing import ResponseReturnValue

from wallet.accounts import tokens
from wallet.db.models.users import User
from wallet.errors import WalletError
from webapp.extensions import unit_of_work
from webapp.security import current_user, has_bearer

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


class Unauthorized(WalletError):
    code = "unauthorized"
    http_status = 401


def _bearer_user() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    with unit_of_work() as db:
        found = tokens.authenticate_token(db, value.strip())
    if found is None:
        raise Unauthorized("the API token is invalid, revoked or expired")
    user, row = found
    g.api_token = row
    return user


def api_user() -> User:
    """The caller of the current API request (set by :func:`require_auth`)."""
    user: User = g.api_user
    return user


def require_auth(view: F) -> F:
    """401 unless the request carries a live token or a signed-in session."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if has_bearer() or "Authorization" in request.headers:
            g.api_user = _bearer_user()
        else:
            user = current_user()
            if user is None:
                raise Unauthorized("sign in or send Authorization: Bearer <token>")
            g.api_user = user
        return view(*args, **kwargs)

    return cast(F, wrapped)
