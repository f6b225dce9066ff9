"""The production app plus one slow idempotent probe route, for the
multi-process web tests (served by gunicorn as
``tests.scaling.probe_app:create_app()``).

The probe exists because no shipped idempotent view is slow enough to
catch a duplicate while the first request is still running. It is wrapped
by the real :func:`webapp.api.authn.require_auth` and
:func:`webapp.api.idempotency.idempotent`, so what it proves is theirs.
Everything else served is exactly ``webapp.create_app()``.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from webapp.api.authn import require_auth
from webapp.api.idempotency import idempotent

HOLD_SECONDS = 20.0  # a held probe gives up after this, so no test can hang forever

probe = Blueprint("scaling_probe", __name__, url_prefix="/api/v1/_probe")


@probe.get("/pid")
def pid() -> ResponseReturnValue:
    """Which process served this request."""
    return jsonify({"pid": os.getpid()})


@probe.post("/slow")
@require_auth
@idempotent
def slow() -> ResponseReturnValue:
    """Wait until the file named in the body exists, then answer with a fresh id."""
    gate = Path(str((request.get_json(silent=True) or {}).get("gate", "")))
    deadline = time.monotonic() + HOLD_SECONDS
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return jsonify({"id": uuid.uuid4().hex, "pid": os.getpid()}), 201


def create_app() -> Flask:
    """``webapp.create_app()`` with the probe, and this test run's own Redis key prefix."""
    from webapp import create_app as production_app

    app = production_app(RATELIMIT_KEY_PREFIX=os.environ["TFW_TEST_RATELIMIT_PREFIX"])
    app.register_blueprint(probe)
    return app
