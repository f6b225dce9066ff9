"""Small wire calls shared by readiness, metrics and alert conditions.

Each probe makes one real request with a short timeout and returns a
:class:`ProbeResult` instead of raising: a dead dependency is an answer
(``ok=False`` and why), not an exception. Credentials embedded in a URL
(the UTXO nodes' ``user:password@``) are used but never echoed back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from wallet.http import tls_context

CHAINS = ("ethereum", "solana", "bitcoin", "dogecoin")


@dataclass(frozen=True)
class ProbeResult:
    ok: bool | None  # None: not configured / cannot tell
    detail: str
    latency_ms: int
    value: int | None = None  # e.g. the head height, the float in paise

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "detail": self.detail, "latency_ms": self.latency_ms}
        if self.value is not None:
            out["value"] = self.value
        return out


def timed(check: Callable[[], tuple[bool | None, str, int | None]]) -> ProbeResult:
    """Run ``check`` and time it; any exception becomes ``ok=False`` with its type."""
    started = time.perf_counter()
    try:
        ok, detail, value = check()
    except httpx.TimeoutException:
        ok, detail, value = False, "timed out", None
    except httpx.TransportError as exc:
        ok, detail, value = False, f"unreachable ({type(exc).__name__})", None
    except Exception as exc:  # a probe reports, it never takes the caller down
        message = getattr(exc, "message", None) or type(exc).__name__
        ok, detail, value = False, str(message)[:200], None
    return ProbeResult(ok, detail, int((time.perf_counter() - started) * 1000), value)


def split_credentials(url: str) -> tuple[str, httpx.BasicAuth | None]:
    """``http://user:pw@host:port/`` → (``http://host:port/``, basic auth)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, httpx.BasicAuth(parts.username, parts.password or "")


def json_rpc(url: str, method: str, params: list[Any], timeout_s: float) -> Any:
    """One JSON-RPC 2.0 call; raises on transport errors and RPC errors."""
    clean, auth = split_credentials(url)
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = httpx.post(
        clean, json=body, auth=auth, timeout=timeout_s, trust_env=False, verify=tls_context()
    )
    if response.status_code >= 400 and not response.content.startswith(b"{"):
        raise RuntimeError(f"HTTP {response.status_code}")
    doc = response.json()
    if doc.get("error"):
        error = doc["error"]
        raise RuntimeError(f"RPC error {error.get('code')}: {error.get('message')}")
    return doc.get("result")


def _head_call(chain: str) -> tuple[str, list[Any], Callable[[Any], int]]:
    if chain == "ethereum":
        return "eth_blockNumber", [], lambda r: int(r, 16)
    if chain == "solana":
        return "getSlot", [{"commitment": "confirmed"}], int
    return "getblockcount", [], int  # bitcoin, dogecoin (Bitcoin Core RPC)


def chain_head(chain: str, url: str, timeout_s: float) -> ProbeResult:
    """The node's head height (block number or slot) — proves it answers RPC."""
    method, params, parse = _head_call(chain)

    def check() -> tuple[bool, str, int]:
        height = parse(json_rpc(url, method, params, timeout_s))
        return True, f"head {height}", height

    return timed(check)


def chain_urls(settings: Any) -> dict[str, str]:
    return {
        "ethereum": settings.eth_rpc_url,
        "solana": settings.sol_rpc_url,
        "bitcoin": settings.btc_rpc_url,
        "dogecoin": settings.doge_rpc_url,
    }


def http_ok(url: str, timeout_s: float, path: str = "") -> ProbeResult:
    """A GET that must answer 2xx (exchange ``/api/v3/ping`` and the like)."""

    def check() -> tuple[bool, str, None]:
        response = httpx.get(
            url.rstrip("/") + path, timeout=timeout_s, trust_env=False, verify=tls_context()
        )
        ok = 200 <= response.status_code < 300
        return ok, f"HTTP {response.status_code}", None

    return timed(check)


def payout_gateway(settings: Any, timeout_s: float) -> ProbeResult:
    """RazorpayX with our credentials: Fetch Balance proves auth; value = float paise."""
    from wallet.payouts.razorpayx import RazorpayXClient

    def check() -> tuple[bool, str, int]:
        with RazorpayXClient.from_settings(settings, timeout_s=timeout_s, max_attempts=1) as c:
            balance = c.get_balance_paise()
        return True, "authenticated", balance

    return timed(check)


def heads(
    settings: Any, chains: Mapping[str, str] | None = None, timeout_s: float = 2.0
) -> dict[str, ProbeResult]:
    """Every chain's head, sequentially (callers that need speed use a pool)."""
    urls = chains if chains is not None else chain_urls(settings)
    return {chain: chain_head(chain, url, timeout_s) for chain, url in urls.items()}
