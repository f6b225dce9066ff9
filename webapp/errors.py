"""Error handlers that answer JSON to API clients and HTML to browsers.

Every error body is ``{"error": {"code", "message"}}`` with a stable code
(validation errors add ``details``); unexpected errors are logged with an
incident id and never leak internals. Throttling answers carry
``Retry-After``; API 401s carry ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from wallet.errors import WalletError

log = logging.getLogger(__name__)


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_json():
        body: dict[str, Any] = {"code": code, "message": message}
        if details:
            body["details"] = details
        response = make_response(jsonify({"error": body}), status)
    else:
        html = render_template("error.html", status=status, code=code, message=message)
        response = make_response(html, status)
    if status == 401 and request.path.startswith("/api/"):
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def wallet_error_response(exc: WalletError) -> Response:
    """The response for a domain refusal (also used to store idempotent replies)."""
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    details = getattr(exc, "details", None)
    return error_response(exc.http_status, exc.code, exc.message, details=details, headers=headers)


def http_error_response(exc: HTTPException) -> Response:
    code = (exc.name or "error").lower().replace(" ", "_")
    headers = {}
    original = exc.get_response()
    for name in ("Retry-After", "Allow"):
        if original.headers.get(name):
            headers[name] = original.headers[name]
    return error_response(exc.code or 500, code, exc.description or exc.name, headers=headers)


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(WalletError, wallet_error_response)
    app.register_error_handler(HTTPException, http_error_response)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error (incident %s)", incident)
        return error_response(500, "internal_error", f"Something went wrong (incident {incident}).")
