"""Error handlers that answer JSON to API clients and HTML to browsers.

Every error body is ``{"error": {"code", "message"}}`` with a stable code;
unexpected errors are logged with a request id and never leak internals.
"""

from __future__ import annotations

import logging
import uuid

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from wallet.errors import WalletError

log = logging.getLogger(__name__)


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def error_response(status: int, code: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify({"error": {"code": code, "message": message}}), status
    return render_template("error.html", status=status, code=code, message=message), status


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(WalletError)
    def _wallet_error(exc: WalletError) -> tuple[Response | str, int]:
        return error_response(exc.http_status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response | str, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response | str, int]:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error (incident %s)", incident)
        return error_response(500, "internal_error", f"Something went wrong (incident {incident}).")
