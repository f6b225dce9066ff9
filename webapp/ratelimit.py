"""Request rate limits (Flask-Limiter): 429 with ``Retry-After``.

Counters live in Redis when ``REDIS_URL`` is set (shared by every web
process) and in this process's memory otherwise (the embedded default).
Views opt in with :func:`limited`; the limits are bound per app in
:func:`register_rate_limits`, so each app (and each test) counts alone.
Limits are per client address and shared by all views of one scope.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from wallet.config import Settings

F = TypeVar("F", bound=Callable[..., object])

# Scope -> default limit (flask-limiter syntax); override with app config
# RATE_LIMIT_<SCOPE>, e.g. RATE_LIMIT_AUTH="3/minute" in tests.
DEFAULT_LIMITS = {
    "auth": "20/minute;200/hour",  # sign-in, sign-up, token: slows guessing and sign-up spam
    "api": "300/minute",
}


def limited(scope: str) -> Callable[[F], F]:
    """Mark a view as counted against ``scope``'s limit (unsafe methods only)."""
    if scope not in DEFAULT_LIMITS:
        raise ValueError(f"unknown rate-limit scope {scope!r}")

    def mark(view: F) -> F:
        view.__dict__["_rate_limit_scope"] = scope
        return view

    return mark


def register_rate_limits(app: Flask, settings: Settings) -> Limiter:
    """Create this app's limiter and wrap every marked view with its scope's limit."""
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "taskforce:ratelimit")
    limiter = Limiter(get_remote_address, app=app, default_limits=[])
    for endpoint, view in list(app.view_functions.items()):
        scope = getattr(view, "_rate_limit_scope", None)
        if scope is None:
            continue
        limit = limiter.shared_limit(
            _limit_for(scope), scope=scope, methods=["POST", "PUT", "PATCH", "DELETE"]
        )
        app.view_functions[endpoint] = cast(Any, limit(view))
    app.extensions["tfw_limiter"] = limiter
    return limiter


def _limit_for(scope: str) -> Callable[[], str]:
    def value() -> str:
        configured = current_app.config.get(f"RATE_LIMIT_{scope.upper()}")
        return str(configured or DEFAULT_LIMITS[scope])

    return value
