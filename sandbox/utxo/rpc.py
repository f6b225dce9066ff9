"""Bitcoin Core's JSON-RPC methods over the in-memory :class:`~sandbox.utxo.chain.Node`.

Follows the Bitcoin Core RPC reference (https://bitcoincore.org/en/doc/27.0.0/rpc/)
for method names, parameters (positional or named), result shapes and the
error codes in src/rpc/protocol.h. Wallet RPCs do not exist (as with
``-disablewallet``): they answer -32601 Method not found.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.faults import Faults
from sandbox.utxo.chain import Block, MempoolEntry, Node, Rejected
from sandbox.utxo.render import (
    amount,
    block_json,
    chainwork,
    difficulty,
    header_json,
    script_pubkey,
    tx_json,
)
from sandbox.utxo.script import (
    AddressError,
    address_to_script,
    classify,
    descriptor_scripts,
    script_descriptor,
)
from sandbox.utxo.tx import DecodeError, parse_tx, serialize_block

# src/rpc/protocol.h
RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_DESERIALIZATION_ERROR = -22
RPC_METHOD_NOT_FOUND = -32601
RPC_INVALID_REQUEST = -32600
RPC_INVALID_PARAMS = -32602
RPC_PARSE_ERROR = -32700


def knob(faults: Faults, key: str) -> Any:
    """A stand-in specific fault knob (``FaultConfig.extra``)."""
    return faults.extra(key)  # noqa: S610 - sandbox.faults.Faults.extra, not Django's


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Handler = Callable[[list[Any]], Any]


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RpcError(
            RPC_TYPE_ERROR,
            f"JSON value of type {type(value).__name__} for field {name} "
            "is not of expected type number",
        )
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RpcError(
            RPC_TYPE_ERROR,
            f"JSON value of type {type(value).__name__} for field {name} "
            "is not of expected type string",
        )
    return value


def _hash(value: Any, name: str) -> str:
    text = _str(value, name)
    if len(text) != 64:
        raise RpcError(
            RPC_INVALID_PARAMETER, f"{name} must be of length 64 (not {len(text)}, for '{text}')"
        )
    try:
        bytes.fromhex(text)
    except ValueError as exc:
        raise RpcError(
            RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')"
        ) from exc
    return text.lower()


def _verbosity(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    return _int(value, "verbosity")


def _btc_to_units(value: Any, name: str) -> int:
    try:
        dec = Decimal(str(value))
    except InvalidOperation as exc:
        raise RpcError(RPC_TYPE_ERROR, f"Invalid amount for {name}") from exc
    if dec < 0 or dec != dec.quantize(Decimal("0.00000001")):
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount")
    return int(dec * 100_000_000)


class Rpc:
    """The method table; ``call`` runs one method under the node lock."""

    def __init__(self, node: Node, faults: Faults | None = None) -> None:
        self.node = node
        self.faults = faults or Faults()
        self.started = time.time()
        self.methods: dict[str, tuple[Handler, list[str]]] = {
            "getblockchaininfo": (self.getblockchaininfo, []),
            "getblockcount": (self.getblockcount, []),
            "getbestblockhash": (self.getbestblockhash, []),
            "getblockhash": (self.getblockhash, ["height"]),
            "getblock": (self.getblock, ["blockhash", "verbosity"]),
            "getblockheader": (self.getblockheader, ["blockhash", "verbose"]),
            "getchaintips": (self.getchaintips, []),
            "getrawtransaction": (self.getrawtransaction, ["txid", "verbose", "blockhash"]),
            "decoderawtransaction": (self.decoderawtransaction, ["hexstring", "iswitness"]),
            "sendrawtransaction": (
                self.sendrawtransaction,
                ["hexstring", "maxfeerate", "maxburnamount"],
            ),
            "testmempoolaccept": (self.testmempoolaccept, ["rawtxs", "maxfeerate"]),
            "getmempoolinfo": (self.getmempoolinfo, []),
            "getrawmempool": (self.getrawmempool, ["verbose", "mempool_sequence"]),
            "getmempoolentry": (self.getmempoolentry, ["txid"]),
            "gettxout": (self.gettxout, ["txid", "n", "include_mempool"]),
            "estimatesmartfee": (self.estimatesmartfee, ["conf_target", "estimate_mode"]),
            "generatetoaddress": (self.generatetoaddress, ["nblocks", "address", "maxtries"]),
            "invalidateblock": (self.invalidateblock, ["blockhash"]),
            "reconsiderblock": (self.reconsiderblock, ["blockhash"]),
            "scantxoutset": (self.scantxoutset, ["action", "scanobjects"]),
            "getnetworkinfo": (self.getnetworkinfo, []),
            "validateaddress": (self.validateaddress, ["address"]),
            "uptime": (self.uptime, []),
            "ping": (self.ping, []),
        }

    def call(self, method: Any, params: Any) -> Any:
        """Run one JSON-RPC method (positional list or named object params)."""
        if not isinstance(method, str):
            raise RpcError(RPC_INVALID_REQUEST, "Method must be a string")
        entry = self.methods.get(method)
        if entry is None:
            raise RpcError(RPC_METHOD_NOT_FOUND, "Method not found")
        handler, names = entry
        if params is None:
            args: list[Any] = []
        elif isinstance(params, list):
            args = list(params)
        elif isinstance(params, dict):
            unknown = set(params) - set(names)
            if unknown:
                raise RpcError(
                    RPC_INVALID_PARAMETER, f"Unknown named parameter {sorted(unknown)[0]}"
                )
            args = [params.get(n) for n in names]
            while args and args[-1] is None:
                args.pop()
        else:
            raise RpcError(RPC_INVALID_REQUEST, "Params must be an array or object")
        if len(args) > len(names):
            raise RpcError(RPC_MISC_ERROR, f"{method}: too many parameters")
        args += [None] * (len(names) - len(args))
        with self.node.lock:
            return handler(args)

    # --- helpers -----------------------------------------------------------

    def _block(self, value: Any, name: str = "blockhash") -> Block:
        block = self.node.blocks.get(_hash(value, name))
        if block is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        return block

    def _script(self, address: Any) -> bytes:
        try:
            return address_to_script(self.node.params, _str(address, "address"))
        except AddressError as exc:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address") from exc

    def _decode(self, value: Any) -> Any:
        try:
            raw = bytes.fromhex(_str(value, "hexstring"))
            return parse_tx(raw, allow_witness=self.node.segwit)
        except (ValueError, DecodeError) as exc:
            raise RpcError(
                RPC_DESERIALIZATION_ERROR,
                "TX decode failed. Make sure the tx has at least one input.",
            ) from exc

    def _max_fee_rate(self, value: Any) -> int:
        """sendrawtransaction maxfeerate (BTC/kvB); Dogecoin's boolean allowhighfees disables it."""
        if value is None:
            return self.node.params.max_fee_rate
        if isinstance(value, bool):
            return 0 if value else self.node.params.max_fee_rate
        return _btc_to_units(value, "maxfeerate")

    def _entry_json(self, txid: str, entry: MempoolEntry) -> dict[str, Any]:
        node = self.node
        descendants = node.mempool_descendants(txid)
        ancestors = self._ancestors(txid)
        return {
            "vsize": entry.vsize,
            "weight": entry.tx.weight,
            "time": entry.time,
            "height": entry.height,
            "descendantcount": len(descendants),
            "descendantsize": sum(node.mempool[d].vsize for d in descendants),
            "ancestorcount": len(ancestors),
            "ancestorsize": sum(node.mempool[a].vsize for a in ancestors),
            "wtxid": entry.tx.wtxid,
            "fees": {
                "base": amount(entry.fee),
                "modified": amount(entry.fee),
                "ancestor": amount(sum(node.mempool[a].fee for a in ancestors)),
                "descendant": amount(sum(node.mempool[d].fee for d in descendants)),
            },
            "depends": node.mempool_parents(entry),
            "spentby": sorted(
                {
                    node.spenders[(txid, n)]
                    for n in range(len(entry.tx.vout))
                    if (txid, n) in node.spenders
                }
            ),
            "bip125-replaceable": any(node.mempool[a].tx.signals_rbf for a in ancestors),
            "unbroadcast": False,
        }

    def _ancestors(self, txid: str) -> list[str]:
        result = [txid]
        for current in result:
            for parent in self.node.mempool_parents(self.node.mempool[current]):
                if parent not in result:
                    result.append(parent)
        return result

    # --- blockchain --------------------------------------------------------

    def getblockchaininfo(self, args: list[Any]) -> dict[str, Any]:
        """Bitcoin Core RPC: Blockchain RPCs / getblockchaininfo."""
        node = self.node
        tip = node.tip
        return {
            "chain": node.params.chain,
            "blocks": node.height,
            "headers": node.height,
            "bestblockhash": tip.hash,
            "difficulty": difficulty(tip.header.bits),
            "time": tip.header.time,
            "mediantime": node.median_time_past(tip),
            "verificationprogress": 1,
            "initialblockdownload": False,
            "chainwork": chainwork(tip),
            "size_on_disk": sum(b.txs[0].size for b in node.blocks.values()),
            "pruned": False,
            "warnings": "",
        }

    def getblockcount(self, args: list[Any]) -> int:
        """Bitcoin Core RPC: Blockchain RPCs / getblockcount."""
        return self.node.height

    def getbestblockhash(self, args: list[Any]) -> str:
        """Bitcoin Core RPC: Blockchain RPCs / getbestblockhash."""
        return self.node.tip.hash

    def getblockhash(self, args: list[Any]) -> str:
        """Bitcoin Core RPC: Blockchain RPCs / getblockhash."""
        height = _int(args[0], "height")
        if not 0 <= height <= self.node.height:
            raise RpcError(RPC_INVALID_PARAMETER, "Block height out of range")
        return self.node.chain[height]

    def getblock(self, args: list[Any]) -> Any:
        """Bitcoin Core RPC: Blockchain RPCs / getblock (verbosity 0, 1, 2, 3)."""
        block = self._block(args[0])
        verbosity = _verbosity(args[1], 1)
        if verbosity <= 0:
            return serialize_block(block.header, block.txs).hex()
        return block_json(self.node, block, verbosity)

    def getblockheader(self, args: list[Any]) -> Any:
        """Bitcoin Core RPC: Blockchain RPCs / getblockheader."""
        block = self._block(args[0])
        if args[1] is False:
            return block.header.serialize().hex()
        return header_json(self.node, block)

    def getchaintips(self, args: list[Any]) -> list[dict[str, Any]]:
        """Bitcoin Core RPC: Blockchain RPCs / getchaintips."""
        node = self.node
        parents = {b.prev for b in node.blocks.values()}
        tips = [b for b in node.blocks.values() if b.hash not in parents or b.hash == node.tip.hash]
        out = []
        for block in sorted(tips, key=lambda b: -b.height):
            cursor = block
            while not node.in_active_chain(cursor):
                cursor = node.blocks[cursor.prev]
            if block.hash == node.tip.hash:
                status = "active"
            elif block.hash in node.failed:
                status = "invalid"
            else:
                status = "valid-fork"
            out.append(
                {
                    "height": block.height,
                    "hash": block.hash,
                    "branchlen": block.height - cursor.height,
                    "status": status,
                }
            )
        return out

    def invalidateblock(self, args: list[Any]) -> None:
        """Bitcoin Core RPC: Blockchain RPCs / invalidateblock."""
        block = self._block(args[0])
        try:
            self.node.invalidate(block.hash)
        except ValueError as exc:
            raise RpcError(RPC_MISC_ERROR, str(exc)) from exc

    def reconsiderblock(self, args: list[Any]) -> None:
        """Bitcoin Core RPC: Blockchain RPCs / reconsiderblock."""
        self.node.reconsider(self._block(args[0]).hash)

    def gettxout(self, args: list[Any]) -> Any:
        """Bitcoin Core RPC: Blockchain RPCs / gettxout."""
        node = self.node
        outpoint = (_hash(args[0], "txid"), _int(args[1], "n"))
        include_mempool = args[2] is not False
        coin = node.utxos.get(outpoint)
        if include_mempool:
            if outpoint in node.spenders:
                return None
            if coin is None and outpoint[0] in node.mempool:
                vout = node.mempool[outpoint[0]].tx.vout
                if outpoint[1] < len(vout):
                    out = vout[outpoint[1]]
                    return {
                        "bestblock": node.tip.hash,
                        "confirmations": 0,
                        "value": amount(out.value),
                        "scriptPubKey": script_pubkey(node, out.script),
                        "coinbase": False,
                    }
        if coin is None:
            return None
        return {
            "bestblock": node.tip.hash,
            "confirmations": node.height - coin.height + 1,
            "value": amount(coin.value),
            "scriptPubKey": script_pubkey(node, coin.script),
            "coinbase": coin.coinbase,
        }

    def scantxoutset(self, args: list[Any]) -> Any:
        """Bitcoin Core RPC: Blockchain RPCs / scantxoutset (confirmed UTXO set only).

        Scans are instant, so "status" is always null and "abort" false.
        """
        action = _str(args[0], "action")
        if action == "status":
            return None
        if action == "abort":
            return False
        if action != "start":
            raise RpcError(RPC_INVALID_PARAMETER, f"Invalid action '{action}'")
        if not isinstance(args[1], list):
            raise RpcError(
                RPC_INVALID_PARAMETER, "scanobjects argument is required for the start action"
            )
        node = self.node
        wanted: dict[bytes, str] = {}
        for obj in args[1]:
            desc = obj.get("desc") if isinstance(obj, dict) else obj
            if not isinstance(desc, str):
                raise RpcError(
                    RPC_INVALID_PARAMETER, "Scan object needs to be either a string or an object"
                )
            try:
                for script in descriptor_scripts(node.params, desc):
                    wanted[script] = script_descriptor(node.params, script)
            except ValueError as exc:
                raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, str(exc)) from exc
        unspents: list[dict[str, Any]] = []
        total = 0
        for (txid, n), coin in node.utxos.items():
            if coin.script in wanted:
                total += coin.value
                unspents.append(
                    {
                        "txid": txid,
                        "vout": n,
                        "scriptPubKey": coin.script.hex(),
                        "desc": wanted[coin.script],
                        "amount": amount(coin.value),
                        "coinbase": coin.coinbase,
                        "height": coin.height,
                        "blockhash": node.chain[coin.height],
                    }
                )
        unspents.sort(key=lambda u: (u["height"], u["txid"], u["vout"]))
        return {
            "success": True,
            "txouts": len(node.utxos),
            "height": node.height,
            "bestblock": node.tip.hash,
            "unspents": unspents,
            "total_amount": amount(total),
        }

    # --- raw transactions --------------------------------------------------

    def getrawtransaction(self, args: list[Any]) -> Any:
        """Bitcoin Core RPC: Rawtransactions RPCs / getrawtransaction (verbosity 0, 1, 2).

        As in Core, a mempool transaction has no blockhash/confirmations keys.
        """
        node = self.node
        txid = _hash(args[0], "txid")
        verbosity = _verbosity(args[1], 0)
        found = node.find_tx(txid)
        if args[2] is not None:
            in_block = self._block(args[2])
            if found is None or found[1] is not in_block:
                raise RpcError(
                    RPC_INVALID_ADDRESS_OR_KEY,
                    "No such transaction found in the provided block. "
                    "Use gettransaction for wallet transactions.",
                )
        if found is None:
            raise RpcError(
                RPC_INVALID_ADDRESS_OR_KEY,
                "No such mempool or blockchain transaction. "
                "Use gettransaction for wallet transactions.",
            )
        tx, block = found
        if verbosity <= 0:
            return tx.serialize().hex()
        fee = None
        prevouts = None
        if verbosity >= 2:
            if block is None:
                entry = node.mempool[txid]
                fee, prevouts = entry.fee, entry.prevouts
            else:
                index = node.tx_index[txid][1]
                fee = node.tx_fee(block, index)
                prevouts = block.undo[index] if not tx.is_coinbase else None
        out = tx_json(node, tx, fee=fee, prevouts=prevouts)
        if block is not None:
            out["blockhash"] = block.hash
            out["confirmations"] = node.confirmations(block)
            out["time"] = block.header.time
            out["blocktime"] = block.header.time
        return out

    def decoderawtransaction(self, args: list[Any]) -> dict[str, Any]:
        """Bitcoin Core RPC: Rawtransactions RPCs / decoderawtransaction."""
        return tx_json(self.node, self._decode(args[0]), include_hex=False)

    def sendrawtransaction(self, args: list[Any]) -> str:
        """Bitcoin Core RPC: Rawtransactions RPCs / sendrawtransaction.

        Re-sending a transaction already in the mempool returns its txid, as Core does.
        Fault knob ``drop_broadcasts``: validate and answer, but never enter the mempool.
        """
        tx = self._decode(args[0])
        node = self.node
        if tx.txid in node.mempool:
            return tx.txid
        try:
            node.accept(
                tx,
                max_fee_rate=self._max_fee_rate(args[1]),
                test_only=bool(knob(self.faults, "drop_broadcasts")),
            )
        except Rejected as exc:
            if exc.reason == "txn-already-known":
                raise RpcError(-27, "Transaction outputs already in utxo set") from exc
            if exc.reason == "max-fee-exceeded":
                raise RpcError(exc.code, exc.debug) from exc
            raise RpcError(exc.code, exc.message) from exc
        return tx.txid

    def testmempoolaccept(self, args: list[Any]) -> list[dict[str, Any]]:
        """Bitcoin Core RPC: Rawtransactions RPCs / testmempoolaccept (single transactions)."""
        if not isinstance(args[0], list) or not args[0]:
            raise RpcError(
                RPC_INVALID_PARAMETER, "Array must contain between 1 and 25 transactions."
            )
        max_fee_rate = self._max_fee_rate(args[1])
        results = []
        for raw in args[0]:
            tx = self._decode(raw)
            item: dict[str, Any] = {"txid": tx.txid, "wtxid": tx.wtxid}
            try:
                accepted = self.node.accept(tx, test_only=True, max_fee_rate=max_fee_rate)
            except Rejected as exc:
                reason = (
                    "missing-inputs"
                    if exc.reason == "bad-txns-inputs-missingorspent"
                    else exc.reason
                )
                item.update({"allowed": False, "reject-reason": reason})
                if exc.debug and reason != "max-fee-exceeded":
                    item["reject-details"] = exc.message
            else:
                item.update(
                    {
                        "allowed": True,
                        "vsize": tx.vsize,
                        "fees": {
                            "base": amount(accepted.fee),
                            "effective-feerate": amount(accepted.fee * 1000 // tx.vsize),
                            "effective-includes": [tx.wtxid],
                        },
                    }
                )
            results.append(item)
        return results

    # --- mempool -----------------------------------------------------------

    def getmempoolinfo(self, args: list[Any]) -> dict[str, Any]:
        """Bitcoin Core RPC: Blockchain RPCs / getmempoolinfo."""
        node = self.node
        entries = node.mempool.values()
        return {
            "loaded": True,
            "size": len(node.mempool),
            "bytes": sum(e.vsize for e in entries),
            "usage": sum(e.tx.size * 4 for e in entries),
            "total_fee": amount(sum(e.fee for e in entries)),
            "maxmempool": 300_000_000,
            "mempoolminfee": amount(node.params.min_relay_fee),
            "minrelaytxfee": amount(node.params.min_relay_fee),
            "incrementalrelayfee": amount(node.params.incremental_relay_fee),
            "unbroadcastcount": 0,
            "fullrbf": False,
        }

    def getrawmempool(self, args: list[Any]) -> Any:
        """Bitcoin Core RPC: Blockchain RPCs / getrawmempool."""
        node = self.node
        if args[0]:
            return {txid: self._entry_json(txid, e) for txid, e in node.mempool.items()}
        txids = list(node.mempool)
        if args[1]:
            return {"txids": txids, "mempool_sequence": len(txids)}
        return txids

    def getmempoolentry(self, args: list[Any]) -> dict[str, Any]:
        """Bitcoin Core RPC: Blockchain RPCs / getmempoolentry."""
        txid = _hash(args[0], "txid")
        entry = self.node.mempool.get(txid)
        if entry is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
        return self._entry_json(txid, entry)

    # --- util / mining / network ------------------------------------------

    def estimatesmartfee(self, args: list[Any]) -> dict[str, Any]:
        """Bitcoin Core RPC: Util RPCs / estimatesmartfee.

        Answers the network's configured fee rate (regtest has no fee history).
        Fault knobs: ``fee_multiplier`` (number) scales it; ``estimatesmartfee_no_data``
        returns Core's "Insufficient data" answer.
        """
        target = _int(args[0], "conf_target")
        if not 1 <= target <= 1008:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid conf_target, must be between 1 and 1008")
        if args[1] is not None and str(args[1]).upper() not in (
            "UNSET",
            "ECONOMICAL",
            "CONSERVATIVE",
        ):
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid estimate_mode parameter")
        if knob(self.faults, "estimatesmartfee_no_data"):
            return {"errors": ["Insufficient data or no feerate found"], "blocks": 0}
        rate = Decimal(self.node.params.default_fee_estimate)
        multiplier = knob(self.faults, "fee_multiplier")
        if multiplier:
            rate = rate * Decimal(str(multiplier))
        units = max(int(rate), self.node.params.min_relay_fee)
        return {"feerate": amount(units), "blocks": max(2, target)}

    def generatetoaddress(self, args: list[Any]) -> list[str]:
        """Bitcoin Core RPC: Generating RPCs / generatetoaddress."""
        count = _int(args[0], "nblocks")
        script = self._script(args[1])
        if count < 0:
            raise RpcError(RPC_INVALID_PARAMETER, "nblocks must be non-negative")
        return self.node.mine(script, count)

    def validateaddress(self, args: list[Any]) -> dict[str, Any]:
        """Bitcoin Core RPC: Util RPCs / validateaddress."""
        address = _str(args[0], "address")
        params = self.node.params
        try:
            script = address_to_script(params, address)
        except AddressError as exc:
            return {"isvalid": False, "error_locations": [], "error": str(exc)}
        kind = classify(params, script).type
        out: dict[str, Any] = {
            "isvalid": True,
            "address": address,
            "scriptPubKey": script.hex(),
            "isscript": kind in ("scripthash", "witness_v0_scripthash"),
            "iswitness": kind.startswith("witness"),
        }
        if out["iswitness"]:
            out["witness_version"] = 0 if script[0] == 0 else script[0] - 0x50
            out["witness_program"] = script[2:].hex()
        return out

    def getnetworkinfo(self, args: list[Any]) -> dict[str, Any]:
        """Bitcoin Core RPC: Network RPCs / getnetworkinfo."""
        params = self.node.params
        return {
            "version": params.core_version,
            "subversion": params.subversion,
            "protocolversion": 70016,
            "localservices": "0000000000000409",
            "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED"],
            "localrelay": True,
            "timeoffset": 0,
            "networkactive": True,
            "connections": 0,
            "connections_in": 0,
            "connections_out": 0,
            "networks": [],
            "relayfee": amount(params.min_relay_fee),
            "incrementalfee": amount(params.incremental_relay_fee),
            "localaddresses": [],
            "warnings": "",
        }

    def uptime(self, args: list[Any]) -> int:
        """Bitcoin Core RPC: Control RPCs / uptime."""
        return int(time.time() - self.started)

    def ping(self, args: list[Any]) -> None:
        """Bitcoin Core RPC: Network RPCs / ping."""
        return None
