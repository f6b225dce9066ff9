"""The Ethereum stand-in: a fault-injecting JSON-RPC proxy in front of anvil.

Knobs and admin endpoints are documented in :mod:`sandbox.ethereum`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from eth_utils import is_checksum_address, is_checksum_formatted_address, keccak
from eth_utils import to_checksum_address as checksum

from sandbox.ethereum.compile import compile_contracts
from sandbox.ethereum.deploy import (
    PRODUCT_TOKENS,
    TOKEN_DECIMALS,
    calldata,
    deploy_tokens,
    wait_receipt,
)
from sandbox.ethereum.node import CHAIN_ID, AnvilNode, JsonRpc, RpcError
from sandbox.faults import Faults
from sandbox.http import Request, Response, json_response
from wallet.errors import InvalidAmount
from wallet.money import parse_minor

log = logging.getLogger("sandbox.ethereum")

ETH_DECIMALS = 18
DROP_TX_KEY = "drop_tx_next"


class BadRequest(ValueError):
    """A fund/admin request we refuse with a 400 and a stable code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def _error(code: str, message: str, status: int = 400) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


def parse_address(value: object) -> str:
    """A 0x-prefixed 20-byte hex address; mixed case must be a valid EIP-55 checksum."""
    if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
        raise BadRequest("invalid_address", f"{value!r} is not a 0x-prefixed 20-byte address")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise BadRequest("invalid_address", f"{value!r} is not hexadecimal") from None
    if is_checksum_formatted_address(value) and not is_checksum_address(value):
        raise BadRequest("invalid_address", f"{value!r} fails its EIP-55 checksum")
    return str(checksum(value))


def _positive_int(body: dict[str, Any], key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"invalid_{key}", f"{key} must be a positive integer, got {value!r}")
    return value


class EthereumApp:
    """Owns the anvil child; proxies JSON-RPC to it and serves the sandbox admin paths."""

    name = "ethereum"

    def __init__(
        self,
        url: str,
        state_dir: Path,
        block_time: int = 1,
        faults: Faults | None = None,
    ) -> None:
        self.url = url
        self.state_dir = state_dir  # the manager gives each stand-in its own dir
        self.block_time = block_time
        self.faults = faults or Faults()
        self.node = AnvilNode(self.state_dir)
        self.tokens: dict[str, str] = {}
        self.faucet = ""
        self._fund_lock = threading.Lock()  # one faucet: serialise its sends
        self._mining_lock = threading.Lock()  # reorg/mine must not race the interval miner
        self._knob_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------

    @property
    def rpc(self) -> JsonRpc:
        if self.node.rpc is None:
            raise RuntimeError("anvil is not running")
        return self.node.rpc

    def start(self) -> None:
        """Compile, start anvil, deploy the tokens, then switch to the configured mining mode."""
        artifacts = compile_contracts(self.state_dir)
        rpc = self.node.start()
        self.faucet = checksum(rpc.call("eth_accounts")[0])
        self.tokens = deploy_tokens(rpc, artifacts, self.faucet)
        if self.block_time > 0:
            rpc.call("evm_setIntervalMining", self.block_time)
        log.info("ethereum ready: faucet %s tokens %s", self.faucet, self.tokens)

    def close(self) -> None:
        self.node.stop()

    @property
    def automine(self) -> bool:
        return self.block_time <= 0

    # -- the proxied JSON-RPC surface ----------------------------------------------

    def handle(self, request: Request) -> Response:
        """Ethereum JSON-RPC API (ethereum.org "JSON-RPC API"; execution-apis spec), as anvil
        serves it, single and batch requests alike, relayed byte for byte."""
        if request.method != "POST":
            return _error("method_not_allowed", "JSON-RPC is served on POST", 405)
        swallowed = self._maybe_swallow_tx(request.body)
        if swallowed is not None:
            return swallowed
        try:
            upstream = self.rpc.forward(
                request.body, request.headers.get("Content-Type") or "application/json"
            )
        except httpx.HTTPError as exc:
            return _error("node_unavailable", f"anvil unreachable: {exc}", 502)
        content_type = upstream.headers.get("content-type", "application/json")
        return Response(upstream.status_code, upstream.content, {"Content-Type": content_type})

    def _maybe_swallow_tx(self, body: bytes) -> Response | None:
        """Fault ``drop_tx_next``: acknowledge a raw tx with its real hash, never relay it.

        The node never sees it, exactly like a tx evicted from every mempool.
        """
        if b"eth_sendRawTransaction" not in body or not self._drop_tx_remaining():
            return None
        try:
            call = json.loads(body)
            if call["method"] != "eth_sendRawTransaction":
                return None
            raw = bytes.fromhex(call["params"][0].removeprefix("0x"))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return None  # batches and malformed calls go to anvil untouched
        with self._knob_lock:  # two concurrent sends must not both spend one drop
            remaining = self._drop_tx_remaining()
            if remaining < 1:
                return None
            extra = dict(self.faults.snapshot()["extra"])
            extra[DROP_TX_KEY] = remaining - 1
            self.faults.configure(extra=extra)
        txid = "0x" + keccak(raw).hex()  # EIP-2718: the hash of the signed envelope
        log.info("fault drop_tx_next: swallowed %s", txid)
        return json_response({"jsonrpc": "2.0", "id": call.get("id"), "result": txid})

    def _drop_tx_remaining(self) -> int:
        value = self.faults.extra(DROP_TX_KEY, 0)  # noqa: S610 - Faults.extra, not Django ORM
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    # -- health ----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        head: int | None
        try:
            head = int(self.rpc.call("eth_blockNumber"), 16)
        except (RuntimeError, httpx.HTTPError, ValueError):
            head = None
        return {
            "ok": head is not None and self.node.alive(),
            "head": head,
            "info": {
                "url": self.url,
                "chain_id": CHAIN_ID,
                "block_time": self.block_time,
                "credentials": {"faucet_address": self.faucet},
                "tokens": dict(self.tokens),
                "settings": {
                    "eth_rpc_url": self.url,
                    "token_contracts": {s: self.tokens[s] for s in PRODUCT_TOKENS},
                },
            },
        }

    # -- admin -----------------------------------------------------------------------

    def admin(self, request: Request) -> Response | None:
        routes = {
            "/__sandbox/fund": self.fund,
            "/__sandbox/reorg": self.reorg,
            "/__sandbox/rollback": self.rollback,
            "/__sandbox/mine": self.mine,
            "/__sandbox/snapshot": self.snapshot,
            "/__sandbox/revert": self.revert,
            "/__sandbox/drop": self.drop,
        }
        route = routes.get(request.path)
        if route is None:
            return None
        if request.method != "POST":
            return _error("method_not_allowed", f"{request.path} takes POST", 405)
        try:
            try:
                body = request.json() if request.body else {}
            except ValueError:
                raise BadRequest("invalid_json", "the body is not valid JSON") from None
            if not isinstance(body, dict):
                raise BadRequest("invalid_body", "the body must be a JSON object")
            return json_response(route(body))
        except ValueError as exc:  # BadRequest, JSON and amount errors
            code = exc.code if isinstance(exc, BadRequest) else "invalid_request"
            return _error(code, str(exc))
        except RpcError as exc:
            return _error("node_rejected", str(exc), 409)

    def _head(self) -> dict[str, Any]:
        block = self.rpc.call("eth_getBlockByNumber", "latest", False)
        return {"number": int(block["number"], 16), "hash": block["hash"]}

    def _settle(self, txid: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """Make sure ``txid`` is mined and return its receipt."""
        if not self.automine:
            with self._mining_lock:
                self.rpc.call("evm_mine")
        return wait_receipt(self.rpc, txid, timeout_s)

    def fund(self, body: dict[str, Any]) -> dict[str, Any]:
        """Sandbox faucet: a real transfer of ``asset`` from the faucet account, mined.

        ETH is a native value transfer; tokens are ERC-20 ``transfer`` calls (EIP-20),
        except FALSE, whose transfer moves nothing, so it is delivered by ``mint``.
        FEEMEME burns its 2% on the way, as any transfer of it does.
        """
        address = parse_address(body.get("address"))
        asset = body.get("asset")
        if asset != "ETH" and asset not in TOKEN_DECIMALS:
            known = ", ".join(["ETH", *TOKEN_DECIMALS])
            raise BadRequest("invalid_asset", f"asset must be one of {known}, got {asset!r}")
        decimals = ETH_DECIMALS if asset == "ETH" else TOKEN_DECIMALS[asset]
        amount = body.get("amount")
        if not isinstance(amount, str):
            raise BadRequest("invalid_amount", f"amount must be a decimal string, got {amount!r}")
        try:
            minor = parse_minor(amount, decimals)
        except InvalidAmount as exc:
            raise BadRequest(
                "invalid_amount",
                f"{amount!r} is not a {asset} amount with at most {decimals} "
                f"decimal places ({exc})",
            ) from None
        if minor <= 0:
            raise BadRequest("invalid_amount", "amount must be positive")
        if asset == "ETH":
            tx = {"from": self.faucet, "to": address, "value": hex(minor)}
        else:
            verb = "mint" if asset == "FALSE" else "transfer"
            data = calldata(f"{verb}(address,uint256)", ["address", "uint256"], [address, minor])
            tx = {"from": self.faucet, "to": self.tokens[asset], "data": data}
        with self._fund_lock:
            txid = self.rpc.call("eth_sendTransaction", tx)
            receipt = self._settle(txid)
        if int(receipt["status"], 16) != 1:
            raise RpcError("eth_sendTransaction", f"faucet transfer {txid} reverted")
        return {
            "txid": txid,
            "block": int(receipt["blockNumber"], 16),
            "block_hash": receipt["blockHash"],
            "asset": asset,
            "address": address,
            "amount_minor": str(minor),
        }

    def reorg(self, body: dict[str, Any]) -> dict[str, Any]:
        """Anvil ``anvil_reorg``: replace the last ``depth`` blocks with empty ones.

        The reorged blocks' transactions are dropped (not returned to the mempool);
        the answer lists them so tests know what vanished.
        """
        depth = _positive_int(body, "depth")
        with self._paused_mining():
            old = self._head()
            if depth > old["number"]:
                raise BadRequest("invalid_depth", f"depth {depth} exceeds the chain height")
            dropped: list[str] = []
            for number in range(old["number"] - depth + 1, old["number"] + 1):
                block = self.rpc.call("eth_getBlockByNumber", hex(number), False)
                dropped.extend(block["transactions"])
            self.rpc.call("anvil_reorg", depth, [])
            new = self._head()
        return {"depth": depth, "old_head": old, "new_head": new, "dropped": dropped}

    def rollback(self, body: dict[str, Any]) -> dict[str, Any]:
        """Anvil ``anvil_rollback``: remove the last ``depth`` blocks (the head goes back)."""
        depth = _positive_int(body, "depth", 1)
        with self._paused_mining():
            old = self._head()
            self.rpc.call("anvil_rollback", depth)
            new = self._head()
        return {"depth": depth, "old_head": old, "new_head": new}

    def mine(self, body: dict[str, Any]) -> dict[str, Any]:
        """Anvil ``anvil_mine``: mine ``blocks`` blocks now (pending txs go in the first)."""
        blocks = _positive_int(body, "blocks", 1)
        with self._mining_lock:
            self.rpc.call("anvil_mine", hex(blocks))
        return {"blocks": blocks, "head": self._head()}

    def snapshot(self, body: dict[str, Any]) -> dict[str, Any]:
        """Ganache/anvil ``evm_snapshot``: remember the chain state; returns its id."""
        return {"id": self.rpc.call("evm_snapshot")}

    def revert(self, body: dict[str, Any]) -> dict[str, Any]:
        """Ganache/anvil ``evm_revert``: return to snapshot ``id`` (ids are single-use)."""
        snap = body.get("id")
        if not isinstance(snap, str) or not snap.startswith("0x"):
            raise BadRequest("invalid_id", "id must be the hex id returned by snapshot")
        with self._paused_mining():
            reverted = bool(self.rpc.call("evm_revert", snap))
            head = self._head()
        return {"reverted": reverted, "head": head}

    def drop(self, body: dict[str, Any]) -> dict[str, Any]:
        """Anvil ``anvil_dropTransaction``: evict a pending tx from the mempool."""
        txhash = body.get("txhash")
        if not isinstance(txhash, str) or len(txhash) != 66 or not txhash.startswith("0x"):
            raise BadRequest("invalid_txhash", "txhash must be a 0x-prefixed 32-byte hash")
        result = self.rpc.call("anvil_dropTransaction", txhash)
        return {"txhash": txhash, "dropped": result is not None}

    @contextlib.contextmanager
    def _paused_mining(self) -> Iterator[None]:
        """Stop the interval miner around a chain rewrite so depth counts from a fixed head."""
        with self._mining_lock:
            if not self.automine:
                self.rpc.call("evm_setIntervalMining", 0)
            try:
                yield
            finally:
                if not self.automine:
                    self.rpc.call("evm_setIntervalMining", self.block_time)
