"""A small threaded HTTP server that every Python stand-in is built on.

Stand-ins implement :class:`StandInApp` (``handle`` plus ``health``); this
module adds the shared admin surface (``/__sandbox/health``,
``/__sandbox/faults``), fault injection at the socket level (so "performed
but the response was lost" is a real dropped connection, as a client sees
it in production), and a ``main`` that the manager launches as a process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from sandbox.faults import Faults

log = logging.getLogger("sandbox")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    client: str = ""
    raw_query: str = ""  # exactly as sent: signature schemes (Binance) sign these bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    @property
    def label(self) -> str:
        """What fault ``match`` strings are compared with."""
        label = f"{self.method} {self.path}"
        if self.body[:1] == b"{" and b'"method"' in self.body[:400]:
            try:
                method = json.loads(self.body).get("method")
            except ValueError:
                method = None
            if isinstance(method, str):
                label += f" {method}"
        return label


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status,
        json.dumps(obj, separators=(",", ":")).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


class StandInApp(Protocol):
    name: str

    def handle(self, request: Request) -> Response: ...

    def health(self) -> dict[str, Any]: ...


class _Handler(BaseHTTPRequestHandler):
    server: StandInServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _read(self) -> Request:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        return Request(
            self.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            self.headers,
            body,
            self.client_address[0],
            split.query,
        )

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _abort(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _dispatch(self) -> None:
        request = self._read()
        if request.path.startswith("/__sandbox/"):
            self._send(self.server.admin(request))
            return
        kind, latency = self.server.faults.decide(request.label)
        if latency:
            time.sleep(latency)
        if kind == "error":
            self._send(json_response({"error": "sandbox injected 503"}, 503))
            return
        if kind == "reset":
            self._abort()
            return
        if kind == "timeout":
            time.sleep(self.server.faults.config.timeout_s)
            self._abort()
            return
        try:
            response = self.server.app.handle(request)
        except Exception:
            log.exception("stand-in %s failed on %s", self.server.app.name, request.label)
            response = json_response({"error": "internal sandbox error"}, 500)
        if kind == "drop":
            self._abort()
            return
        self._send(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: StandInApp, host: str, port: int, faults: Faults | None = None):
        super().__init__((host, port), _Handler)
        self.app = app
        self.faults = faults or Faults()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else host
        return f"http://{host_text}:{port}"

    def admin(self, request: Request) -> Response:
        if request.path == "/__sandbox/health":
            status = {"ok": True, "name": self.app.name, "faults": self.faults.active()}
            return json_response({**status, **self.app.health()})
        if request.path == "/__sandbox/faults":
            if request.method == "POST":
                try:
                    self.faults.configure(**(request.json() or {}))
                except (TypeError, ValueError) as exc:
                    return json_response({"error": str(exc)}, 400)
            return json_response(self.faults.snapshot())
        custom: Callable[[Request], Response | None] | None = getattr(self.app, "admin", None)
        if custom is not None:
            answer = custom(request)
            if answer is not None:
                return answer
        return json_response({"error": "unknown sandbox admin path"}, 404)

    def start_background(self) -> threading.Thread:
        """Serve on a daemon thread (in-process use by tests)."""
        thread = threading.Thread(target=self.serve_forever, name=self.app.name, daemon=True)
        thread.start()
        return thread


def arg_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, default=Path("var/sandbox"))
    parser.add_argument("--seed", type=int, default=0)
    return parser


def serve(app: StandInApp, args: argparse.Namespace, faults: Faults | None = None) -> None:
    """Run ``app`` in the foreground until SIGTERM/SIGINT.

    Pass ``faults`` when the app itself reads stand-in-specific fault knobs.
    """
    import signal

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    server = StandInServer(app, args.host, args.port, faults or Faults(args.seed))

    def _stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("%s listening on %s", app.name, server.url)
    server.serve_forever()
    closer: Callable[[], None] | None = getattr(app, "close", None)
    if closer is not None:
        closer()
