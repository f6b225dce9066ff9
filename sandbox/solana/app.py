"""The Solana stand-in as a :class:`sandbox.http.StandInApp`: JSON-RPC envelope, admin, faults."""

from __future__ import annotations

import json
import logging
import random
import threading
from typing import Any

from sandbox.faults import Faults
from sandbox.http import Request, Response, json_response
from sandbox.solana.chain import Chain, ChainConfig, TxRejected
from sandbox.solana.faucet import Faucet, FundError
from sandbox.solana.rpc import RpcError, SolanaRpc

log = logging.getLogger("sandbox.solana")
MAX_MINE = 10_000


def _rpc_error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": RpcError(code, message, data).to_json(), "id": request_id}


class SolanaStandIn:
    """A Solana JSON-RPC node on LiteSVM, with the sandbox faucet and fault knobs."""

    name = "solana"

    def __init__(self, config: ChainConfig, faults: Faults, url: str) -> None:
        self.faults = faults
        self.url = url
        self._fault_lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self.chain = Chain(config, skip_source=self._skip_slots)
        self.faucet = Faucet(self.chain, config.seed)
        self.rpc = SolanaRpc(self.chain, self.faucet, drop=self._drop_tx)

    def start(self) -> None:
        """Genesis (faucet, mints) then the slot clock; call before serving."""
        self.faucet.genesis()
        self.chain.produce_block(skip=0)
        self.chain.start()

    def close(self) -> None:
        self.chain.close()

    # -- faults ---------------------------------------------------------------

    def _take(self, key: str, whole: bool = False) -> int:
        """Consume a ``*_next`` counter in ``FaultConfig.extra``: one unit, or all if ``whole``."""
        with self._fault_lock:
            count = int(self.faults.extra(key, 0) or 0)  # noqa: S610 - not Django
            if count <= 0:
                return 0
            extra = dict(self.faults.snapshot()["extra"])
            extra[key] = 0 if whole else count - 1
            self.faults.configure(extra=extra)
            return count if whole else 1

    def _rate(self, key: str) -> bool:
        rate = float(self.faults.extra(key, 0) or 0)  # noqa: S610 - not Django
        with self._fault_lock:
            return rate > 0 and self._rng.random() < rate

    def _drop_tx(self) -> bool:
        return bool(self._take("drop_tx_next")) or self._rate("drop_tx_rate")

    def _skip_slots(self) -> int:
        return self._take("skip_slots_next", whole=True) or int(self._rate("skip_slot_rate"))

    # -- StandInApp -----------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Solana JSON-RPC 2.0 over HTTP POST (RPC docs: "JSON RPC API"), single or batch."""
        if request.method != "POST":
            return Response(
                405,
                b"Used HTTP Method is not allowed. POST or OPTIONS is required",
                {"Content-Type": "text/plain"},
            )
        try:
            body = json.loads(request.body)
        except ValueError:
            return json_response(_rpc_error(None, -32700, "Parse error"))
        if isinstance(body, list):
            if not body:
                return json_response(_rpc_error(None, -32600, "Invalid request"))
            return json_response([self._one(item) for item in body])
        return json_response(self._one(body))

    def _one(self, call: Any) -> dict[str, Any]:
        if (
            not isinstance(call, dict)
            or call.get("jsonrpc") != "2.0"
            or not isinstance(call.get("method"), str)
        ):
            request_id = call.get("id") if isinstance(call, dict) else None
            return _rpc_error(request_id, -32600, "Invalid request")
        request_id = call.get("id")
        params = call.get("params", [])
        if not isinstance(params, list):
            return _rpc_error(request_id, -32602, "Invalid params: expected an array")
        try:
            result = self.rpc.call(call["method"], params)
        except RpcError as exc:
            return {"jsonrpc": "2.0", "error": exc.to_json(), "id": request_id}
        except Exception:
            log.exception("solana rpc %s failed", call["method"])
            return _rpc_error(request_id, -32603, "Internal error")
        return {"jsonrpc": "2.0", "result": result, "id": request_id}

    def health(self) -> dict[str, Any]:
        tokens = {symbol: str(mint) for symbol, mint in self.faucet.mints.items()}
        return {
            "ok": True,
            "head": self.chain.slot(),
            "block_height": self.chain.height(),
            "finalized_slot": self.chain.slot("finalized"),
            "info": {
                "url": self.url,
                "faucet": str(self.faucet.keypair.pubkey()),
                "tokens": tokens,
                "settings": {"sol_rpc_url": self.url, "token_contracts": tokens},
            },
        }

    def admin(self, request: Request) -> Response | None:
        routes = {
            "/__sandbox/fund": self._fund,
            "/__sandbox/mine": self._mine,
            "/__sandbox/reorg": self._reorg,
        }
        handler = routes.get(request.path)
        if handler is None:
            return None
        if request.method != "POST":
            return json_response({"error": "use POST", "code": "method_not_allowed"}, 405)
        try:
            body = request.json() or {}
        except ValueError:
            return json_response({"error": "body must be JSON", "code": "invalid_json"}, 400)
        if not isinstance(body, dict):
            return json_response(
                {"error": "body must be a JSON object", "code": "invalid_json"}, 400
            )
        return handler(body)

    def _fund(self, body: dict[str, Any]) -> Response:
        """Sandbox admin: a real faucet transfer of SOL / USDC-SPL / BONK to an owner address."""
        try:
            funded = self.faucet.fund(body.get("address"), body.get("asset"), body.get("amount"))
        except FundError as exc:
            return json_response({"error": str(exc), "code": exc.code}, 400)
        except TxRejected as exc:
            return json_response(
                {"error": f"faucet transfer failed: {exc.err}", "code": "faucet_failed"}, 409
            )
        return json_response(
            {
                "txid": funded.signature,
                "slot": funded.slot,
                "address": body["address"],
                "asset": body["asset"],
                "amount": body["amount"],
                "units": str(funded.units),
            }
        )

    def _mine(self, body: dict[str, Any]) -> Response:
        """Sandbox admin: produce N blocks now (reach finality, expire blockhashes)."""
        blocks = body.get("blocks", 1)
        if not isinstance(blocks, int) or isinstance(blocks, bool) or not 1 <= blocks <= MAX_MINE:
            return json_response(
                {"error": f"blocks must be 1..{MAX_MINE}", "code": "invalid_blocks"}, 400
            )
        for _ in range(blocks):
            self.chain.produce_block()
        return json_response({"head": self.chain.slot(), "block_height": self.chain.height()})

    def _reorg(self, body: dict[str, Any]) -> Response:
        """Sandbox admin: not supported on Solana — see the module docs (use ``drop_tx_next``)."""
        return json_response(
            {
                "error": "solana stand-in cannot roll back LiteSVM state; "
                "inject dropped transactions with the drop_tx_next / drop_tx_rate fault instead",
                "code": "unsupported",
            },
            501,
        )
