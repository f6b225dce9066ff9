"""The API's own description: OpenAPI 3.1 JSON and a server-rendered docs page."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from webapp.api.blueprint import bp, docs_bp
from webapp.api.spec import build_spec, documented


@bp.get("/openapi.json")
@documented(
    summary="This API's OpenAPI 3.1 document",
    auth=False,
    tags=("meta",),
    responses={200: (None, "The OpenAPI document.")},
)
def openapi() -> ResponseReturnValue:
    return jsonify(build_spec(current_app))


def _resolve(spec: dict[str, Any], schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    ref = schema.get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    target = spec["components"]["schemas"].get(name, schema)
    return json.dumps(target, indent=2, ensure_ascii=False)


@docs_bp.get("/docs")
def docs() -> ResponseReturnValue:
    """A plain listing of the spec: no scripts, no CDN, readable offline."""
    spec = build_spec(current_app)
    operations = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            responses = []
            for status, resp in op["responses"].items():
                schema = resp.get("content", {}).get("application/json", {}).get("schema")
                responses.append((status, resp["description"], _resolve(spec, schema)))
            operations.append(
                {
                    "method": method.upper(),
                    "path": spec["servers"][0]["url"] + path,
                    "op": op,
                    "auth": bool(op.get("security")),
                    "request_schema": _resolve(spec, body.get("schema")),
                    "responses": responses,
                }
            )
    return render_template("api/docs.html", spec=spec, operations=operations)
