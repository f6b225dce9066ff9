"""Liveness: ``/healthz`` answers while the process can serve a request."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is alive (readiness checks live in /readyz)."""
    return jsonify({"status": "ok"})
