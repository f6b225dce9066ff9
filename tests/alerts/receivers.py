"""Loopback servers alerts are delivered to in tests: an HTTP receiver and an SMTP sink.

Both are real servers on 127.0.0.1 speaking the real protocol (the SMTP
sink implements the RFC 5321 commands ``smtplib`` sends), run on a thread.
"""

from __future__ import annotations

import contextlib
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200


@contextlib.contextmanager
def http_receiver() -> Iterator[tuple[str, Received]]:
    """POSTs to ``url`` are recorded (headers, raw body) and answered ``status``."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.requests.append((dict(self.headers), self.rfile.read(length)))
            self.send_response(received.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def smtp_sink() -> Iterator[tuple[int, list[EmailMessage]]]:
    """A minimal SMTP server on loopback; yields (port, messages received)."""
    messages: list[EmailMessage] = []

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self) -> None:
            self.reply("220 sink ESMTP")
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250-sink")
                    self.reply("250 8BITMIME")
                elif verb in {"HELO", "MAIL", "RCPT", "RSET", "NOOP"}:
                    self.reply("250 ok")
                elif verb == "DATA":
                    self.reply("354 end with .")
                    data = bytearray()
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    parsed = message_from_bytes(bytes(data), policy=policy.default)
                    messages.append(parsed)  # type: ignore[arg-type]
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 not implemented")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], messages
    finally:
        server.shutdown()
        server.server_close()
