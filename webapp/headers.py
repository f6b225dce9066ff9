"""Security headers on every response (issue 9, "Security hardening").

The app ships no inline script or style: every page loads its JavaScript
from ``/static`` (and the vendored QR decoder from ``pwa.jsqr``), so the
Content-Security-Policy can forbid inline script outright without a nonce.
Pages are never framed (clickjacking on the pay/confirm buttons), and the
camera is allowed only for our own origin because the scan page reads QR
codes through it.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
# Two years with subdomains: the HSTS preload list's minimum.
HSTS = "max-age=63072000; includeSubDomains"
PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"
REFERRER_POLICY = "strict-origin-when-cross-origin"


def _wants_hsts() -> bool:
    # HSTS over plain http is ignored by browsers and would pin dev hosts.
    settings = current_app.extensions.get("settings")
    production = getattr(settings, "environment", "") == "production"
    return production or request.is_secure


def add_security_headers(response: Response) -> Response:
    """Set the headers unless a view chose its own (setdefault semantics)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", REFERRER_POLICY)
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for old browsers
    if _wants_hsts():
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def register_security_headers(app: Flask) -> None:
    """Add the headers to every response, errors and static files included."""
    app.after_request(add_security_headers)
