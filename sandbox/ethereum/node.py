"""The real ``anvil`` node as a child process, and a tiny JSON-RPC client for it.

Anvil comes from the npm package ``@foundry-rs/anvil`` (``node_modules/.bin``).
It always runs on a free loopback port of its own; clients never see that
port, they talk to the fault-injecting proxy in :mod:`sandbox.ethereum.app`.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("sandbox.ethereum")

MNEMONIC = "test test test test test test test test test test test junk"
CHAIN_ID = 31337
DEV_BALANCE_ETH = 1_000_000  # per dev account; account 0 is the faucet


class RpcError(RuntimeError):
    """A JSON-RPC error object returned by anvil."""

    def __init__(self, method: str, error: Any) -> None:
        self.error = error
        super().__init__(f"{method}: {error}")


def find_anvil(start: Path | None = None) -> Path:
    """Locate anvil: the native binary inside the npm package, else ``anvil`` on ``$PATH``.

    ``node_modules/.bin/anvil`` is a node wrapper that spawns the native binary;
    running the binary directly saves a node process and lets the kernel's
    parent-death signal reach anvil itself.
    """
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        scope = parent / "node_modules" / "@foundry-rs"
        if scope.is_dir():
            for native in sorted(scope.glob("anvil-*/bin/anvil")):
                if os.access(native, os.X_OK):
                    return native
            wrapper = parent / "node_modules" / ".bin" / "anvil"
            if wrapper.exists():
                return wrapper
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise FileNotFoundError("anvil not found: run `npm ci` (@foundry-rs/anvil)")


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (the caller retries on a lost race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: Linux delivers SIGTERM when our process dies.

    This is what keeps anvil from outliving a SIGKILLed stand-in.
    """
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class JsonRpc:
    """Minimal JSON-RPC 2.0 over HTTP (thread-safe: httpx pools connections)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def call(self, method: str, *params: Any) -> Any:
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        reply = self._http.post(self.url, json=payload).json()
        if reply.get("error") is not None:
            raise RpcError(method, reply["error"])
        return reply.get("result")

    def forward(self, body: bytes, content_type: str) -> httpx.Response:
        """Pass a raw request body (single or batch) through unchanged."""
        return self._http.post(self.url, content=body, headers={"Content-Type": content_type})

    def close(self) -> None:
        self._http.close()


class AnvilNode:
    """One anvil process on a private port; ``stop()`` always reaps it."""

    def __init__(self, state_dir: Path, host: str = "127.0.0.1") -> None:
        self.state_dir = state_dir
        self.host = host
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.rpc: JsonRpc | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, attempts: int = 3, wait_s: float = 30.0) -> JsonRpc:
        """Start anvil in instant-mining mode (the caller switches to interval mining)."""
        binary = find_anvil()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        last_error = "not started"
        for _ in range(attempts):
            self.port = free_port(self.host)
            cmd = [
                str(binary),
                "--host", self.host,
                "--port", str(self.port),
                "--mnemonic", MNEMONIC,
                "--chain-id", str(CHAIN_ID),
                "--balance", str(DEV_BALANCE_ETH),
                "--accounts", "10",
                "--silent",
            ]  # fmt: skip
            with open(self.state_dir / "anvil.log", "ab") as out:
                self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,  # single-threaded here: safe
                )
            rpc = JsonRpc(self.url)
            if self._wait_ready(rpc, wait_s):
                self.rpc = rpc
                log.info("anvil pid %s on %s", self.proc.pid, self.url)
                return rpc
            rpc.close()
            last_error = f"anvil exited with {self.proc.poll()} (see {self.state_dir}/anvil.log)"
            self.stop()
        raise RuntimeError(f"anvil did not start: {last_error}")

    def _wait_ready(self, rpc: JsonRpc, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                if int(rpc.call("eth_chainId"), 16) == CHAIN_ID:
                    return True
            except (httpx.HTTPError, ValueError, RpcError):
                time.sleep(0.1)
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 5.0) -> None:
        """Terminate anvil and wait for it, escalating to SIGKILL."""
        if self.rpc is not None:
            self.rpc.close()
            self.rpc = None
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
