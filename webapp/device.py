"""Which device a request comes from, for the risk engine's per-device limits.

A device id is an opaque label the client keeps; the risk engine stores
only a digest of it (:func:`wallet.risk.engine.payment_rules`). It is a
fraud signal, not authentication: a client that drops it merely loses
nothing, and one that invents ids only counts against limits it chose.

- **Browser (the PWA).** A long-lived random cookie ``tf_device`` (128
  bits, hex), set on the first page of the payer's flow and reused after:
  HttpOnly, SameSite=Lax, Secure over HTTPS (and always in production). A
  value that is not one we could have issued is replaced.
- **REST API.** An optional ``X-Device-Id`` header (16–128 characters of
  letters, digits and ``. _ : -``; e.g. a UUID or the app's install id).
  Absent: no device limits. Malformed: 400 ``invalid_device_id`` before the
  request does anything (:func:`device_header` runs before the
  ``Idempotency-Key`` claim).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, current_app, g, request
from flask.typing import ResponseReturnValue

from wallet.errors import WalletError

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])

COOKIE = "tf_device"
HEADER = "X-Device-Id"
HEADER_PATTERN = r"^[A-Za-z0-9._:-]{16,128}$"
COOKIE_MAX_AGE = timedelta(days=400)  # the longest browsers keep a cookie
_HEADER_RE = re.compile(HEADER_PATTERN)
_COOKIE_RE = re.compile(r"[0-9a-f]{32}")


class InvalidDeviceId(WalletError):
    code = "invalid_device_id"


def header_device_id() -> str | None:
    """The request's ``X-Device-Id`` (None without one); malformed raises ``invalid_device_id``."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if not _HEADER_RE.fullmatch(raw):
        raise InvalidDeviceId(
            f"{HEADER} must be 16 to 128 characters of letters, digits, '.', '_', ':' or '-'"
        )
    return raw


def device_header(view: F) -> F:
    """Validate ``X-Device-Id`` first and document it (place above ``@idempotent``)."""
    from webapp.api.spec import operation_of  # webapp.api's routes import this module

    operation = operation_of(view)
    if operation is not None:
        view.__dict__["_openapi"] = replace(operation, device=True)

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        header_device_id()
        return view(*args, **kwargs)

    return cast(F, wrapped)


def browser_device_id() -> str:
    """This browser's device id: its ``tf_device`` cookie, or the one issued now."""
    issued: str | None = g.get("tf_device_issued")
    if issued is not None:
        return issued
    current = request.cookies.get(COOKIE, "")
    if _COOKIE_RE.fullmatch(current):
        return current
    g.tf_device_issued = secrets.token_hex(16)
    return str(g.tf_device_issued)


def _issue(response: Response) -> Response:
    browser_device_id()  # a first visit gets its id here
    issued: str | None = g.get("tf_device_issued")
    if issued is not None:
        response.set_cookie(
            COOKIE,
            issued,
            max_age=COOKIE_MAX_AGE,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=request.is_secure or bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    return response


def register_device_cookie(bp: Blueprint) -> None:
    """Give every browser that opens a page of ``bp`` a device cookie (once)."""
    bp.after_request(_issue)
