"""The OpenAPI 3.1 document, generated from the routes that are really served.

Each API view carries an :class:`Operation` (attached by :func:`documented`)
naming its request and response models; :func:`build_spec` walks the app's
URL map, so a route without documentation fails the spec test and a
documented route that is not served cannot appear. Schemas come from the
same pydantic models that validate requests (JSON Schema 2020-12, which
OpenAPI 3.1 uses as is).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel

from webapp.api.schemas import ErrorResponse

F = TypeVar("F", bound=Callable[..., object])

API_PREFIX = "/api/v1"
_CONVERTER_TYPES = {
    # The bounds of webapp.converters.IdConverter: ids are BIGINT.
    "int": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    "string": {"type": "string"},
}
_RULE_ARG = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>[a-z_]+)>")

# Error responses every operation of a kind can give.
_STANDARD_ERRORS: dict[str, str] = {
    "400": "Invalid input (code `validation_error`, `invalid_json`, …).",
    "429": "Too many requests; retry after `Retry-After` seconds.",
}
_AUTH_ERRORS: dict[str, str] = {"401": "Missing, malformed, revoked or expired bearer token."}


@dataclass(frozen=True)
class Operation:
    """What one route accepts and answers, for the spec and the docs page."""

    summary: str
    responses: dict[int, tuple[type[BaseModel] | None, str]]
    request: type[BaseModel] | None = None
    auth: bool = True
    idempotent: bool = False
    device: bool = False  # accepts X-Device-Id (webapp.device.device_header sets it)
    description: str = ""
    tags: tuple[str, ...] = ()
    query: dict[str, dict[str, Any]] = field(default_factory=dict)


def documented(**kwargs: Any) -> Callable[[F], F]:
    """Attach an :class:`Operation` to a view (keyword arguments as its fields)."""
    operation = Operation(**kwargs)

    def attach(view: F) -> F:
        view.__dict__["_openapi"] = operation
        return view

    return attach


def operation_of(view: object) -> Operation | None:
    op = getattr(view, "_openapi", None)
    return op if isinstance(op, Operation) else None


class _Schemas:
    """Collects component schemas, hoisting pydantic's ``$defs``."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        name = model.__name__
        if name not in self.components:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for def_name, definition in schema.pop("$defs", {}).items():
                self.components.setdefault(def_name, definition)
            self.components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}


def _error(schemas: _Schemas, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schemas.ref(ErrorResponse)}},
    }


def _operation(
    schemas: _Schemas, op: Operation, path_params: list[tuple[str, str]]
) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "tags": list(op.tags) or ["api"]}
    if op.description:
        out["description"] = op.description
    params: list[dict[str, Any]] = [
        {
            "name": n,
            "in": "path",
            "required": True,
            "schema": _CONVERTER_TYPES.get(c, {"type": "string"}),
        }
        for n, c in path_params
    ]
    params += [{"name": n, "in": "query", **spec} for n, spec in op.query.items()]
    if op.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retry-safe key (1–255 printable ASCII characters), scoped to the "
                "caller: the same key and body replay the first response; the same key with "
                "another body is refused (422 `idempotency_key_reused`); a duplicate while the "
                "first is running gets 409 `idempotency_key_in_use`.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if op.device:
        params.append(
            {
                "name": "X-Device-Id",
                "in": "header",
                "required": False,
                "description": "The calling device's stable id (e.g. the app's install id), "
                "counted against per-device risk limits; anything else is refused with 400 "
                "`invalid_device_id` and changes nothing.",
                "schema": {
                    "type": "string",
                    "minLength": 16,
                    "maxLength": 128,
                    "pattern": "^[A-Za-z0-9._:-]+$",
                },
            }
        )
    if params:
        out["parameters"] = params
    if op.request is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(op.request)}},
        }
    responses: dict[str, Any] = {}
    for status, (model, description) in sorted(op.responses.items()):
        if status >= 400:
            responses[str(status)] = _error(schemas, description)
        elif model is None:
            responses[str(status)] = {"description": description}
        else:
            responses[str(status)] = {
                "description": description,
                "content": {"application/json": {"schema": schemas.ref(model)}},
            }
    extra = dict(_STANDARD_ERRORS)
    if op.auth:
        extra.update(_AUTH_ERRORS)
    if op.idempotent:
        extra["409"] = "A request with this Idempotency-Key is still being processed."
        extra["422"] = "This Idempotency-Key was used with a different request."
    for code, text in extra.items():
        responses.setdefault(code, _error(schemas, text))
    out["responses"] = responses
    out["security"] = [{"bearerAuth": []}, {"cookieSession": []}] if op.auth else []
    return out


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every documented ``/api/v1`` route of ``app``."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    rules = sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
    for rule in rules:
        if not rule.rule.startswith(API_PREFIX + "/"):
            continue
        op = operation_of(app.view_functions[rule.endpoint])
        if op is None:
            continue
        path_params = [
            (m.group("name"), m.group("conv") or "string") for m in _RULE_ARG.finditer(rule.rule)
        ]
        path = _RULE_ARG.sub(lambda m: "{" + m.group("name") + "}", rule.rule[len(API_PREFIX) :])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(schemas, op, path_params)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TaskForce Wallet API",
            "version": "1.0.0",
            "description": (
                "Pay any UPI QR with crypto. Amounts are decimal strings plus `*_minor` "
                "integer strings in the asset's smallest unit; never JSON numbers with "
                'fractions. Errors are `{"error": {"code", "message"}}` with a stable '
                "`code`."
            ),
        },
        "servers": [{"url": API_PREFIX}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`tfw_…`) from `POST /auth/token` or sign-up.",
                },
                "cookieSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": app.config.get("SESSION_COOKIE_NAME", "tfw_session"),
                    "description": "The web app's session; unsafe methods also need the "
                    "`X-CSRF-Token` header.",
                },
            },
        },
    }


def undocumented_api_rules(app: Flask) -> list[str]:
    """API routes with no :class:`Operation` (the spec test wants none)."""
    return [
        r.rule
        for r in app.url_map.iter_rules()
        if r.rule.startswith(API_PREFIX + "/")
        and operation_of(app.view_functions[r.endpoint]) is None
    ]
