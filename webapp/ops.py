"""Operations endpoints and request instrumentation.

- ``GET /metrics``: Prometheus text exposition (process metrics merged
  across gunicorn workers, plus state gauges computed from the database).
- ``GET /readyz``: 200 when every critical dependency answers, 503 with
  the per-component JSON otherwise (see :func:`wallet.health.readiness`).
- Every request: an ``X-Request-ID`` (the caller's if well-formed, else a
  new one) bound to the log context and echoed on the response; the user
  id once known; latency and status recorded per route template; one
  structured access-log line (path only: query strings can carry tokens).

Registering the blueprint installs the hooks; nothing else is needed.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from wallet import health
from wallet.observability import context
from wallet.observability.metrics import api_metrics, build_state_collector, render

bp = Blueprint("ops", __name__)
log = logging.getLogger("webapp.access")

REQUEST_ID_HEADER = "X-Request-ID"
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


def request_id_from(header: str | None) -> str:
    """The caller's id when it is a sane token, else a fresh one (no log injection)."""
    if header and _GOOD_ID.match(header):
        return header
    return uuid.uuid4().hex


@bp.record_once
def _install_first(state: BlueprintSetupState) -> None:
    # First of all before-request hooks: a CSRF or auth refusal from an
    # earlier hook must still carry a request id and be timed.
    state.app.before_request_funcs.setdefault(None, []).insert(0, _start_request)


def _start_request() -> None:
    g.ops_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    user = g.get("user")
    g.ops_tokens = context.set_fields(request_id=g.request_id, user_id=getattr(user, "id", None))


@bp.after_app_request
def _finish_request(response: Response) -> Response:
    started = g.pop("ops_started", None)
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    if started is None:
        return response
    seconds = time.perf_counter() - started
    endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    api_metrics().observe(request.method, endpoint, response.status_code, seconds)
    user = g.get("user")
    if user is not None and context.get("user_id") is None:
        g.ops_tokens.update(context.set_fields(user_id=user.id))
    if request.path not in _QUIET_PATHS:
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "http_method": request.method,
                "path": request.path,
                "endpoint": endpoint,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
            },
        )
    return response


@bp.teardown_app_request
def _end_request(_exc: BaseException | None) -> None:
    tokens = g.pop("ops_tokens", None)
    if tokens:
        context.reset(tokens)


def _state_collector(app: Flask) -> Any:
    collector = app.extensions.get("ops.state_collector")
    if collector is None:
        collector = build_state_collector(app.extensions["settings"], app.extensions["sessions"])
        app.extensions["ops.state_collector"] = collector
    return collector


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus scrape endpoint (text exposition format 0.0.4)."""
    body, content_type = render(_state_collector(current_app))
    return Response(body, content_type=content_type)


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness: 200 when every critical component is ok, else 503; JSON either way."""
    app = current_app
    result = health.readiness(
        app.extensions["settings"],
        engine=app.extensions["engine"],
        heartbeats=app.extensions.get("ops.heartbeats"),
    )
    ready = health.is_ready(result)
    body = {"status": "ready" if ready else "not_ready", "components": result}
    return jsonify(body), 200 if ready else 503
