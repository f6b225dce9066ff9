"""The context a log line or error report is about, carried in ``contextvars``.

The web app binds ``request_id`` (and ``user_id`` once known) per request;
settlement binds ``payment_id`` around one payment; Dagster resources bind
``run_id``. Context variables follow threads started with
``contextvars.copy_context()`` and asyncio tasks, and never leak between
two concurrent requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

FIELDS = ("request_id", "user_id", "payment_id", "run_id")

_VARS: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"taskforce_{name}", default=None) for name in FIELDS
}


def current() -> dict[str, str]:
    """The bound fields that have a value (what a log line carries)."""
    out: dict[str, str] = {}
    for name, var in _VARS.items():
        value = var.get()
        if value is not None:
            out[name] = value
    return out


def get(name: str) -> str | None:
    return _VARS[name].get()


def set_fields(**values: object) -> dict[str, Token[str | None]]:
    """Bind fields until :func:`reset`; ``None`` unbinds. Unknown names raise."""
    tokens: dict[str, Token[str | None]] = {}
    for name, value in values.items():
        if name not in _VARS:
            raise KeyError(f"unknown log context field {name!r}; known: {FIELDS}")
        tokens[name] = _VARS[name].set(None if value is None else str(value))
    return tokens


def reset(tokens: dict[str, Token[str | None]]) -> None:
    """Undo a :func:`set_fields` (in reverse, so nested binds unwind exactly)."""
    for name, token in reversed(list(tokens.items())):
        _VARS[name].reset(token)


@contextmanager
def bound(**values: object) -> Iterator[None]:
    """``with bound(payment_id=pid): ...`` — the fields hold inside the block only."""
    tokens = set_fields(**values)
    try:
        yield
    finally:
        reset(tokens)
