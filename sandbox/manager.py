"""Start, stop and inspect the stand-ins as background processes.

Every stand-in is launched as ``python -m sandbox.<module> --port P
--state-dir D --seed S`` in its own process group, polled on
``/__sandbox/health`` until ready, and its ``info`` block is merged into
``<state_dir>/endpoints.json``, which :class:`wallet.config.Settings` reads.
Used by ``taskforce sandbox …``, ``taskforce run`` and the test fixtures.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class StandInSpec:
    name: str
    module: str
    default_port: int
    extra_args: tuple[str, ...] = ()
    startup_timeout_s: float = 60.0


STAND_INS: tuple[StandInSpec, ...] = (
    StandInSpec("ethereum", "sandbox.ethereum", 8545, startup_timeout_s=120.0),
    StandInSpec("solana", "sandbox.solana", 8899),
    StandInSpec(
        "bitcoin", "sandbox.utxo", 18443, ("--network", "bitcoin", "--block-interval", "10")
    ),
    StandInSpec(
        "dogecoin", "sandbox.utxo", 18445, ("--network", "dogecoin", "--block-interval", "10")
    ),
    StandInSpec("exchange", "sandbox.exchange", 9100, ("--venue", "binance")),
    StandInSpec("inr_exchange", "sandbox.exchange", 9101, ("--venue", "inr")),
    StandInSpec("coinbase", "sandbox.exchange", 9102, ("--venue", "coinbase")),
    StandInSpec("razorpayx", "sandbox.razorpayx", 9200),
)
SPECS = {s.name: s for s in STAND_INS}
# Which stand-in answers `fund` for an asset.
FUNDING_CHAIN = {
    "ETH": "ethereum",
    "USDC": "ethereum",
    "SHIB": "ethereum",
    "PEPE": "ethereum",
    "FALSE": "ethereum",
    "FEEMEME": "ethereum",
    "SOL": "solana",
    "USDC-SPL": "solana",
    "BONK": "solana",
    "BTC": "bitcoin",
    "DOGE": "dogecoin",
}


class SandboxError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class RunningStandIn:
    spec: StandInSpec
    port: int
    process: subprocess.Popen[bytes] | None
    pid: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{url}/__sandbox/health", timeout=timeout)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    data: dict[str, Any] = response.json()
    return data


class Sandbox:
    """A set of stand-ins sharing one state directory."""

    def __init__(self, state_dir: Path, seed: int = 0) -> None:
        self.state_dir = state_dir
        self.seed = seed
        self.running: dict[str, RunningStandIn] = {}

    @property
    def endpoints_file(self) -> Path:
        return self.state_dir / "endpoints.json"

    def _log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def launch(self, spec: StandInSpec, port: int, env: dict[str, str] | None = None) -> None:
        """Spawn one stand-in without waiting for it."""
        if port_in_use(port):
            raise SandboxError(f"{spec.name}: port {port} is already in use")
        self._log_path(spec.name).parent.mkdir(parents=True, exist_ok=True)
        state = self.state_dir / spec.name
        state.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            spec.module,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--state-dir",
            str(state),
            "--seed",
            str(self.seed),
            *spec.extra_args,
        ]
        log = self._log_path(spec.name).open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        log.close()
        self.running[spec.name] = RunningStandIn(spec, port, process, process.pid)

    def wait_ready(self, names: Iterable[str] | None = None) -> None:
        pending = set(names or self.running)
        deadline = {n: time.monotonic() + self.running[n].spec.startup_timeout_s for n in pending}
        while pending:
            for name in sorted(pending):
                item = self.running[name]
                if item.process is not None and item.process.poll() is not None:
                    tail = self._log_path(name).read_text(errors="replace")[-3000:]
                    raise SandboxError(f"{name} exited with {item.process.returncode}:\n{tail}")
                status = health(item.url)
                if status and status.get("ok"):
                    item.info = status.get("info", {})
                    pending.discard(name)
                elif time.monotonic() > deadline[name]:
                    raise SandboxError(f"{name} not healthy after {item.spec.startup_timeout_s}s")
            if pending:
                time.sleep(0.2)

    def start(
        self, names: Iterable[str] | None = None, *, ports: dict[str, int] | None = None
    ) -> None:
        """Start stand-ins (all by default) and write the endpoints file."""
        chosen = list(names or SPECS)
        try:
            for name in chosen:
                spec = SPECS[name]
                port = (ports or {}).get(name, spec.default_port)
                self.launch(spec, port)
            self.wait_ready(chosen)
        except BaseException:
            self.stop()
            raise
        self.write_endpoints()

    def settings(self) -> dict[str, Any]:
        """The Settings overrides the running stand-ins publish."""
        merged: dict[str, Any] = {"token_contracts": {}}
        for item in self.running.values():
            for key, value in item.info.get("settings", {}).items():
                if key == "token_contracts":
                    merged["token_contracts"].update(value)
                else:
                    merged[key] = value
        return merged

    def write_endpoints(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        document = {
            "stand_ins": {
                name: {"pid": item.pid, "port": item.port, "module": item.spec.module, **item.info}
                for name, item in self.running.items()
            },
            "settings": self.settings(),
        }
        tmp = self.endpoints_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, indent=2))
        tmp.replace(self.endpoints_file)

    @classmethod
    def attach(cls, state_dir: Path) -> Sandbox:
        """Re-open a sandbox started by another process (``up`` then ``down``)."""
        sandbox = cls(state_dir)
        if sandbox.endpoints_file.is_file():
            document = json.loads(sandbox.endpoints_file.read_text())
            for name, entry in document.get("stand_ins", {}).items():
                spec = SPECS.get(name)
                if spec is None:
                    continue
                info = {k: v for k, v in entry.items() if k not in {"pid", "port", "module"}}
                sandbox.running[name] = RunningStandIn(
                    spec, entry["port"], None, entry["pid"], info
                )
        return sandbox

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every stand-in's process group; SIGKILL what lingers."""
        for item in self.running.values():
            _signal_group(item.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for item in self.running.values():
            while _alive(item) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(item):
                _signal_group(item.pid, signal.SIGKILL)
            if item.process is not None:
                item.process.wait(timeout=5)
        self.running.clear()
        self.endpoints_file.unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        report: dict[str, Any] = {}
        for name, item in self.running.items():
            live = health(item.url)
            report[name] = {
                "url": item.info.get("url", item.url),
                "healthy": bool(live and live.get("ok")),
                "head": live.get("head") if live else None,
                "faults": live.get("faults", []) if live else [],
                **{k: v for k, v in item.info.items() if k != "url"},
            }
        return report

    def fund(self, address: str, asset: str, amount: str) -> dict[str, Any]:
        chain = FUNDING_CHAIN.get(asset)
        if chain is None or chain not in self.running:
            raise SandboxError(f"no running stand-in funds {asset!r}")
        return self.admin(chain, "fund", {"address": address, "asset": asset, "amount": amount})

    def admin(self, name: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        item = self.running.get(name)
        if item is None:
            raise SandboxError(f"stand-in {name!r} is not running")
        response = httpx.post(f"{item.url}/__sandbox/{path}", json=body, timeout=60)
        data: dict[str, Any] = response.json()
        if response.status_code >= 400:
            raise SandboxError(f"{name} {path}: {data}")
        return data


def _alive(item: RunningStandIn) -> bool:
    if item.process is not None:
        return item.process.poll() is None
    try:
        os.kill(item.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
