"""Strict JSON request bodies: parse, validate, or a 400 with a stable code."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from wallet.errors import WalletError

M = TypeVar("M", bound=BaseModel)

_DETAIL_CODES = {"extra_forbidden": "unknown_field", "missing": "missing_field"}


class RequestValidationError(WalletError):
    """A body that does not match the operation's schema."""

    code = "validation_error"

    def __init__(self, message: str, details: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.details = details


class UnsupportedMediaType(WalletError):
    code = "unsupported_media_type"
    http_status = 415


def json_body() -> dict[str, Any]:
    """The request's JSON object; 415 for another media type, 400 for bad JSON."""
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    data = request.get_json(silent=True)
    if data is None:
        raise WalletError("the body is not valid JSON", code="invalid_json")
    if not isinstance(data, dict):
        raise WalletError("the body must be a JSON object", code="invalid_json")
    return data


def parse_body(model: type[M]) -> M:
    """Validate the JSON body against ``model`` (unknown fields are refused)."""
    data = json_body()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(str(p) for p in err["loc"]) or "(body)",
                "code": _DETAIL_CODES.get(err["type"], "invalid_field"),
                "message": err["msg"],
            }
            for err in exc.errors(include_url=False, include_input=False)
        ]
        first = details[0]
        raise RequestValidationError(f"{first['field']}: {first['message']}", details) from None
