"""The stand-in app: Basic-auth JSON-RPC over HTTP plus the /__sandbox admin surface.

HTTP behaviour follows Bitcoin Core's httprpc.cpp: POST only (405
otherwise), HTTP Basic auth (401 with ``WWW-Authenticate``), JSON-RPC 1.0
replies carry ``result``/``error``/``id`` with HTTP 500 on error (404 for
an unknown method, 400 for an invalid request), JSON-RPC 2.0 replies are
always HTTP 200 without the unused member, batches are arrays.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.faults import Faults
from sandbox.http import Request, Response, json_response
from sandbox.utxo.chain import Node, Rejected
from sandbox.utxo.faucet import Faucet, FaucetEmpty
from sandbox.utxo.params import NetworkParams
from sandbox.utxo.render import dumps
from sandbox.utxo.rpc import (
    RPC_INVALID_REQUEST,
    RPC_METHOD_NOT_FOUND,
    RPC_PARSE_ERROR,
    Rpc,
    RpcError,
    knob,
)
from sandbox.utxo.script import AddressError, address_to_script

log = logging.getLogger("sandbox.utxo")


def _error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


def _rpc_body(obj: Any, status: int = 200) -> Response:
    return Response(status, dumps(obj).encode(), {"Content-Type": "application/json"})


class UtxoApp:
    """One regtest chain (Bitcoin or Dogecoin) served as a Bitcoin Core node."""

    def __init__(
        self,
        params: NetworkParams,
        *,
        url: str,
        rpc_user: str = "sandbox",
        rpc_password: str = "sandbox",  # noqa: S107 - the sandbox default in wallet/config.py
        seed: int = 0,
        block_interval: float = 0.0,
        coinbase_maturity: int | None = None,
        initial_blocks: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.name = params.name
        self.params = params
        self.url = url
        self.rpc_user = rpc_user
        self.rpc_password = rpc_password
        self.faults = faults or Faults(seed)
        self.node = Node(params, coinbase_maturity=coinbase_maturity)
        self.rpc = Rpc(self.node, self.faults)
        self.faucet = Faucet(params, seed)
        self._funded: dict[str, dict[str, Any]] = {}
        blocks = initial_blocks if initial_blocks is not None else max(101, self.node.maturity + 1)
        self.node.mine(self.faucet.script, blocks)  # before serving: the faucet is spendable
        self._stop = threading.Event()
        self._miner: threading.Thread | None = None
        if block_interval > 0:
            self._miner = threading.Thread(
                target=self._auto_mine, args=(block_interval,), name="utxo-miner", daemon=True
            )
            self._miner.start()

    # --- lifecycle ---------------------------------------------------------

    def _auto_mine(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if not knob(self.faults, "mine_paused"):
                self.node.mine(self.faucet.script, 1)

    def close(self) -> None:
        self._stop.set()
        if self._miner is not None:
            self._miner.join(timeout=5)

    def health(self) -> dict[str, Any]:
        host_port = self.url.removeprefix("http://")
        rpc_url = f"http://{self.rpc_user}:{self.rpc_password}@{host_port}"
        setting = "btc_rpc_url" if self.params.name == "bitcoin" else "doge_rpc_url"
        return {
            "ok": True,
            "head": self.node.height,
            "info": {
                "url": self.url,
                "credentials": {"user": self.rpc_user, "password": self.rpc_password},
                "settings": {setting: rpc_url},
                "network": self.params.name,
                "chain": self.params.chain,
                "asset": self.params.asset,
                "faucet_address": self.faucet.address,
            },
        }

    # --- JSON-RPC ----------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            supplied = base64.b64decode(header[6:], validate=True)
        except ValueError:
            return False
        expected = f"{self.rpc_user}:{self.rpc_password}".encode()
        return hmac.compare_digest(supplied, expected)

    def handle(self, request: Request) -> Response:
        """Bitcoin Core JSON-RPC API over HTTP (httprpc.cpp: POST /, Basic auth)."""
        if request.path != "/" and not request.path.startswith("/wallet/"):
            return Response(404, b"", {})
        if request.method != "POST":
            return Response(
                405, b"JSONRPC server handles only POST requests", {"Content-Type": "text/html"}
            )
        if not self._authorized(request):
            return Response(401, b"", {"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        try:
            payload = json.loads(request.body, parse_float=Decimal)
        except ValueError:
            return _rpc_body(
                {
                    "result": None,
                    "error": {"code": RPC_PARSE_ERROR, "message": "Parse error"},
                    "id": None,
                },
                500,
            )
        if isinstance(payload, list):
            replies = [self._one(item)[0] for item in payload]
            return _rpc_body([r for r in replies if r is not None])
        reply, status = self._one(payload)
        if reply is None:
            return Response(204, b"", {})
        return _rpc_body(reply, status)

    def _one(self, request: Any) -> tuple[dict[str, Any] | None, int]:
        """One JSON-RPC call; returns (reply or None for a 2.0 notification, HTTP status)."""
        if not isinstance(request, dict):
            error = {"code": RPC_INVALID_REQUEST, "message": "Invalid Request object"}
            return {"result": None, "error": error, "id": None}, 400
        v2 = request.get("jsonrpc") == "2.0"
        request_id = request.get("id")
        try:
            result = self.rpc.call(request.get("method"), request.get("params"))
        except RpcError as exc:
            error = {"code": exc.code, "message": exc.message}
            if v2:
                return (
                    {"jsonrpc": "2.0", "error": error, "id": request_id}
                    if "id" in request
                    else None
                ), 200
            status = {RPC_INVALID_REQUEST: 400, RPC_METHOD_NOT_FOUND: 404}.get(exc.code, 500)
            return {"result": None, "error": error, "id": request_id}, status
        if v2:
            return (
                {"jsonrpc": "2.0", "result": result, "id": request_id} if "id" in request else None
            ), 200
        return {"result": result, "error": None, "id": request_id}, 200

    # --- /__sandbox admin --------------------------------------------------

    def admin(self, request: Request) -> Response | None:
        routes = {
            "/__sandbox/fund": self._fund,
            "/__sandbox/mine": self._mine,
            "/__sandbox/reorg": self._reorg,
            "/__sandbox/drop_tx": self._drop_tx,
        }
        route = routes.get(request.path)
        if route is None:
            return None
        if request.method != "POST":
            return _error(405, "method_not_allowed", "use POST")
        try:
            body = request.json() or {}
        except ValueError:
            return _error(400, "invalid_json", "body must be a JSON object")
        if not isinstance(body, dict):
            return _error(400, "invalid_json", "body must be a JSON object")
        return route(body)

    def _address_script(self, address: Any) -> bytes:
        if not isinstance(address, str):
            raise AddressError("address must be a string")
        return address_to_script(self.params, address)

    def _fund(self, body: dict[str, Any]) -> Response:
        """Sandbox faucet: a real signed transfer, validated like sendrawtransaction.

        Body {"address", "asset", "amount": "decimal string", "confirm": true,
        "idempotency_key"?}; mines one block unless ``confirm`` is false.
        """
        key = body.get("idempotency_key")
        with self.node.lock:  # one faucet spend at a time; makes the key check atomic too
            if isinstance(key, str) and key in self._funded:
                return _rpc_body(self._funded[key])
            return self._fund_locked(body, key)

    def _fund_locked(self, body: dict[str, Any], key: Any) -> Response:
        try:
            script = self._address_script(body.get("address"))
        except AddressError as exc:
            return _error(
                400, "invalid_address", f"not a {self.params.name} regtest address: {exc}"
            )
        if body.get("asset") != self.params.asset:
            return _error(400, "unsupported_asset", f"this faucet sends {self.params.asset} only")
        raw_amount = body.get("amount")
        try:
            if not isinstance(raw_amount, str | int) or isinstance(raw_amount, bool):
                raise InvalidOperation
            value = Decimal(raw_amount)
            units = value.scaleb(8)
            if not value.is_finite() or units <= 0 or units != units.to_integral_value():
                raise InvalidOperation
        except InvalidOperation:
            return _error(
                400,
                "invalid_amount",
                "amount must be a positive decimal string with at most 8 places",
            )
        dust = self.params.dust_limit(script)
        if int(units) < dust:
            return _error(400, "invalid_amount", f"amount is below the dust limit of {dust} units")
        try:
            tx = self.faucet.build(self.node, script, int(units), self.params.default_fee_estimate)
            self.node.accept(tx)
        except FaucetEmpty as exc:
            return _error(400, "faucet_empty", str(exc))
        except Rejected as exc:
            return _error(500, "faucet_rejected", exc.message)
        result: dict[str, Any] = {
            "txid": tx.txid,
            "vout": 0,
            "address": body["address"],
            "asset": self.params.asset,
            "amount": format(Decimal(int(units)).scaleb(-8), "f"),
        }
        if body.get("confirm", True):
            blockhash = self.node.mine(self.faucet.script, 1)[0]
            result.update({"blockhash": blockhash, "height": self.node.height})
        if isinstance(key, str):
            self._funded[key] = result
        return _rpc_body(result)

    def _mine(self, body: dict[str, Any]) -> Response:
        """Sandbox control: mine {"blocks": N (default 1), "address"?} now."""
        blocks = body.get("blocks", 1)
        if not isinstance(blocks, int) or isinstance(blocks, bool) or not 0 < blocks <= 1000:
            return _error(400, "invalid_blocks", "blocks must be an integer between 1 and 1000")
        try:
            script = (
                self._address_script(body["address"]) if "address" in body else self.faucet.script
            )
        except AddressError as exc:
            return _error(400, "invalid_address", str(exc))
        hashes = self.node.mine(script, blocks)
        return _rpc_body({"blockhashes": hashes, "height": self.node.height})

    def _reorg(self, body: dict[str, Any]) -> Response:
        """Sandbox control: reorg the last N blocks away (invalidateblock + remine N+1).

        Body {"depth": N, "drop_txs": false | true | [txid, ...], "address"?}. The
        reorged transactions return to the mempool and are mined into the new
        branch, except those dropped (all of them with true) — a reorg that
        makes a confirmed transaction vanish.
        """
        depth = body.get("depth")
        drop = body.get("drop_txs", False)
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
            return _error(400, "invalid_depth", "depth must be a positive integer")
        if not isinstance(drop, bool) and not (
            isinstance(drop, list) and all(isinstance(t, str) for t in drop)
        ):
            return _error(400, "invalid_drop_txs", "drop_txs must be a boolean or a list of txids")
        try:
            script = (
                self._address_script(body["address"]) if "address" in body else self.faucet.script
            )
        except AddressError as exc:
            return _error(400, "invalid_address", str(exc))
        node = self.node
        with node.lock:
            if depth > node.height:
                return _error(400, "invalid_depth", f"depth exceeds the chain height {node.height}")
            old_tip = node.tip.hash
            disconnected = node.invalidate(node.block_at(node.height - depth + 1).hash)
            reorged = [tx.txid for b in reversed(disconnected) for tx in b.txs[1:]]
            targets = reorged if drop is True else ([] if drop is False else list(drop))
            dropped: list[str] = []
            for txid in targets:
                dropped += node.drop_from_mempool(txid)
            hashes = node.mine(script, depth + 1)
            return _rpc_body(
                {
                    "old_tip": old_tip,
                    "new_tip": node.tip.hash,
                    "height": node.height,
                    "disconnected": [b.hash for b in disconnected],
                    "reorged_txids": reorged,
                    "dropped_txids": dropped,
                    "blockhashes": hashes,
                }
            )

    def _drop_tx(self, body: dict[str, Any]) -> Response:
        """Sandbox control: evict {"txid"} and its descendants from the mempool (a dropped tx)."""
        txid = body.get("txid")
        dropped = self.node.drop_from_mempool(txid) if isinstance(txid, str) else []
        if not dropped:
            return _error(404, "not_in_mempool", "no such transaction in the mempool")
        return _rpc_body({"dropped_txids": dropped})
