"""Structured logs: one JSON object per line, with context, without secrets.

``configure_logging(settings)`` installs one handler on the root logger
(idempotent: calling it again replaces ours, never stacks). Every line has
``ts`` (UTC ISO-8601), ``level``, ``logger``, ``message``, the bound
context (``request_id``, ``user_id``, ``payment_id``, ``run_id``), any
``extra={...}`` fields, and ``exc`` for a traceback — all passed through
the :class:`~wallet.observability.redact.Redactor` built from the settings.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from wallet.observability import context
from wallet.observability.config import ObservabilityConfig
from wallet.observability.redact import MASK, Redactor, is_secret_key, redactor_for

HANDLER_NAME = "taskforce-json"

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


class ContextFilter(logging.Filter):
    """Copies the bound context onto the record (fields already set win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in context.current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class RedactionFilter(logging.Filter):
    """Masks secrets in the message, its arguments, extras and the traceback.

    It renders the message once (``msg % args``), masks it and stores the
    result, so a formatter or a second handler can never see the raw args.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_taskforce_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.redactor.text(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, self.redactor.value(value, key))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        # exc_info stays: formatters print the masked exc_text above instead, and
        # Sentry (whose handler sees this same record afterwards) still needs the
        # exception object; it scrubs with its own before_send.
        record._taskforce_redacted = True
        return True


# gunicorn logs through these two loggers with handlers of its own that do not
# propagate to the root logger, so our handler's filters never see them.
ACCESS_LOGGER = "gunicorn.access"
SERVER_LOGGERS = (ACCESS_LOGGER, "gunicorn.error")
# Access-log atoms that carry a URL or a query string (``{name}e`` are WSGI environ keys).
_URI_ATOMS = frozenset({"r", "f", "{raw_uri}e", "{request_uri}e", "{http_referer}e", "{referer}i"})
_QUERY_ATOMS = frozenset({"q", "{query_string}e"})


def mask_query(query: str) -> str:
    """Every value of a query string masked, its parameter names kept."""
    parts = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if not eq:
            parts.append(MASK if part else part)  # "?<token>": the bare value itself
        else:
            parts.append(f"{name}={MASK}" if value else part)
    return "&".join(parts)


def mask_uri(text: str) -> str:
    """A URL, path or request line (``GET /p?q HTTP/1.1``) with its query values masked."""

    head, sep, rest = text.partition("?")
    if not sep:
        return text
    query, space, protocol = rest.rpartition(" ")
    if not (space and protocol.startswith("HTTP/")):
        query, space, protocol = rest, "", ""
    return f"{head}?{mask_query(query)}{space}{protocol}"


class AccessLogFilter(logging.Filter):
    """gunicorn's access log keeps paths but no query-string values or credential headers.

    Clients put tokens and passwords in query strings (``?access_token=…``)
    and in headers; gunicorn writes its atoms (request line ``r``, query
    ``q``, referer ``f``, ``{header}i`` and ``{environ}e``) verbatim, so they
    are masked in place before the line is formatted.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if not isinstance(atoms, dict):
            return True
        for key, value in list(atoms.items()):
            if not isinstance(value, str) or value in ("", "-"):
                continue
            # "{authorization}i" (a request header), "{http_cookie}e" (WSGI environ)
            name = key[1:].rsplit("}", 1)[0].removeprefix("http_") if key[:1] == "{" else ""
            if name and is_secret_key(name):
                atoms[key] = MASK  # Authorization, Cookie, X-Api-Key, …
            elif key in _QUERY_ATOMS:
                atoms[key] = mask_query(value)
            elif key in _URI_ATOMS:
                atoms[key] = mask_uri(value)
        return True


def guard_server_logs(redactor: Redactor) -> None:
    """Put our masking on gunicorn's loggers too (replacing any we put there before)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        for existing in list(logger.filters):
            if isinstance(existing, AccessLogFilter | RedactionFilter):
                logger.removeFilter(existing)
        if name == ACCESS_LOGGER:
            logger.addFilter(AccessLogFilter())
        logger.addFilter(RedactionFilter(redactor))


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in doc:
                doc[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, default=str, ensure_ascii=False)


def build_handler(
    settings: Any | None = None, stream: IO[str] | None = None, *, json_format: bool = True
) -> logging.Handler:
    """A stream handler with the context and redaction filters and our formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactionFilter(redactor_for(settings)))
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
        handler.addFilter(_DefaultRequestId())
    return handler


class _DefaultRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return True


def ensure_logging(settings: Any | None = None) -> None:
    """Configure logging unless this process already has our handler (app factories)."""
    if not any(h.get_name() == HANDLER_NAME for h in logging.getLogger().handlers):
        configure_logging(settings)


def configure_logging(
    settings: Any | None = None, stream: IO[str] | None = None, level: str | None = None
) -> logging.Handler:
    """Install (or replace) our handler on the root logger; returns it.

    Call once at process start: the web app factory, the gunicorn config,
    and the Dagster code location. Other handlers on the root logger are
    left alone, but ours is the one with redaction: remove the others.
    gunicorn's own loggers (access and error log) get the masking filters.
    """
    config = ObservabilityConfig.from_settings(settings)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == HANDLER_NAME:
            root.removeHandler(existing)
            existing.close()
    handler = build_handler(settings, stream, json_format=config.log_format != "text")
    root.addHandler(handler)
    guard_server_logs(redactor_for(settings))
    root.setLevel((level or config.log_level).upper())
    # Libraries that log request lines or headers at INFO/DEBUG stay at WARNING
    # (httpx2 and httpcore2 are solana-py's fork of httpx).
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
