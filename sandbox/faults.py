"""Seeded, thread-safe fault injection shared by every stand-in.

Faults apply to requests whose label (``"METHOD /path"`` plus the JSON-RPC
method, if any) contains ``match`` (empty matches all). Rates are
probabilities drawn from a seeded RNG so a failing test replays exactly;
``*_next`` counters fire deterministically on the next N matching requests.

Kinds:
- ``latency_ms``: sleep before handling.
- ``error``: answer 503 without performing the request.
- ``timeout``: hold the connection ``timeout_s`` then close it, unperformed.
- ``reset``: close the connection at once, unperformed.
- ``drop``: perform the request, then close the connection without a
  response — the ambiguous outcome behind double payouts and double sells.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("error", "timeout", "reset", "drop")


@dataclass
class FaultConfig:
    match: str = ""
    latency_ms: int = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    reset_rate: float = 0.0
    drop_rate: float = 0.0
    error_next: int = 0
    timeout_next: int = 0
    reset_next: int = 0
    drop_next: int = 0
    timeout_s: float = 5.0
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # stand-in specific knobs


class Faults:
    """The active fault configuration of one stand-in."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.config = FaultConfig(seed=seed)
        self._rng = random.Random(seed)
        self.fired: dict[str, int] = dict.fromkeys(KINDS, 0)

    def configure(self, **changes: Any) -> FaultConfig:
        """Replace the named fields; ``clear=True`` first clears everything."""
        with self._lock:
            if changes.pop("clear", False):
                self.config = FaultConfig(seed=self.config.seed)
            unknown = set(changes) - set(FaultConfig.__dataclass_fields__)
            if unknown:
                raise ValueError(f"unknown fault settings: {sorted(unknown)}")
            for key, value in changes.items():
                setattr(self.config, key, value)
            if "seed" in changes:
                self._rng = random.Random(self.config.seed)
            return self.config

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**asdict(self.config), "fired": dict(self.fired)}

    def active(self) -> list[str]:
        c = self.config
        names = [k for k in KINDS if getattr(c, f"{k}_rate") or getattr(c, f"{k}_next")]
        if c.latency_ms:
            names.append("latency")
        names.extend(k for k, v in c.extra.items() if v)
        return names

    def decide(self, label: str) -> tuple[str | None, float]:
        """Return (fault kind or None, latency seconds) for one request."""
        with self._lock:
            c = self.config
            if c.match and c.match not in label:
                return None, 0.0
            latency = c.latency_ms / 1000.0
            for kind in KINDS:
                nxt = f"{kind}_next"
                if getattr(c, nxt) > 0:
                    setattr(c, nxt, getattr(c, nxt) - 1)
                    self.fired[kind] += 1
                    return kind, latency
            for kind in KINDS:
                rate = getattr(c, f"{kind}_rate")
                if rate and self._rng.random() < rate:
                    self.fired[kind] += 1
                    return kind, latency
            return None, latency

    def extra(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self.config.extra.get(key, default)
