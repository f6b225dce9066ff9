"""JSON shapes of Bitcoin Core's RPC results (TxToUniv, blockToJSON, ...).

Amounts are :class:`~decimal.Decimal` with eight places and are written by
:func:`dumps` as bare JSON numbers (``0.00010000``), exactly as Core's
UniValue prints them, so a client parsing with ``Decimal`` sees no float
rounding.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sandbox.utxo.chain import Block, Coin, Node
from sandbox.utxo.script import classify, script_asm, script_descriptor
from sandbox.utxo.tx import Tx, bits_to_target, varint


def amount(value: int) -> Decimal:
    """Minor units as Core's 8-decimal amount."""
    return Decimal(value).scaleb(-8).quantize(Decimal("0.00000001"))


def dumps(obj: Any) -> str:
    """JSON with Decimals written verbatim as numbers."""
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    return json.dumps(obj)


def difficulty(bits: int) -> float:
    """Core's GetDifficulty (a float in Core too; not money)."""
    shift = (bits >> 24) & 0xFF
    diff = 0x0000FFFF / (bits & 0x00FFFFFF)
    while shift < 29:
        diff *= 256.0
        shift += 1
    while shift > 29:
        diff /= 256.0
        shift -= 1
    return diff


def chainwork(block: Block) -> str:
    work = (1 << 256) // (bits_to_target(block.header.bits) + 1)
    return f"{work * (block.height + 1):064x}"


def script_pubkey(node: Node, script: bytes) -> dict[str, Any]:
    info = classify(node.params, script)
    out: dict[str, Any] = {
        "asm": script_asm(script),
        "desc": script_descriptor(node.params, script),
        "hex": script.hex(),
        "address": info.address,
        "type": info.type,
    }
    if info.address is None:
        del out["address"]
    elif not node.segwit:
        # Dogecoin Core 1.14 (Bitcoin 0.14 based) reports reqSigs/addresses.
        out["reqSigs"] = 1
        out["addresses"] = [info.address]
    return out


def prevout_json(node: Node, coin: Coin) -> dict[str, Any]:
    return {
        "generated": coin.coinbase,
        "height": coin.height,
        "value": amount(coin.value),
        "scriptPubKey": script_pubkey(node, coin.script),
    }


def tx_json(
    node: Node,
    tx: Tx,
    *,
    fee: int | None = None,
    prevouts: list[Coin] | None = None,
    include_hex: bool = True,
) -> dict[str, Any]:
    """Core's TxToUniv."""
    vin: list[dict[str, Any]] = []
    for index, txin in enumerate(tx.vin):
        item: dict[str, Any]
        if txin.is_coinbase:
            item = {"coinbase": txin.script_sig.hex()}
        else:
            item = {
                "txid": txin.outpoint[0],
                "vout": txin.prev_vout,
                "scriptSig": {
                    "asm": script_asm(txin.script_sig, sighash_decode=True),
                    "hex": txin.script_sig.hex(),
                },
            }
        if txin.witness:
            item["txinwitness"] = [w.hex() for w in txin.witness]
        if prevouts is not None and not txin.is_coinbase:
            item["prevout"] = prevout_json(node, prevouts[index])
        item["sequence"] = txin.sequence
        vin.append(item)
    vout = [
        {"value": amount(o.value), "n": n, "scriptPubKey": script_pubkey(node, o.script)}
        for n, o in enumerate(tx.vout)
    ]
    out: dict[str, Any] = {
        "txid": tx.txid,
        "hash": tx.wtxid,
        "version": tx.version,
        "size": tx.size,
        "vsize": tx.vsize,
        "weight": tx.weight,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": vout,
    }
    if fee is not None:
        out["fee"] = amount(fee)
    if include_hex:
        out["hex"] = tx.serialize().hex()
    return out


def header_json(node: Node, block: Block) -> dict[str, Any]:
    """Core's blockheaderToJSON."""
    header = block.header
    out: dict[str, Any] = {
        "hash": block.hash,
        "confirmations": node.confirmations(block),
        "height": block.height,
        "version": header.version,
        "versionHex": f"{header.version:08x}",
        "merkleroot": header.merkle_root[::-1].hex(),
        "time": header.time,
        "mediantime": node.median_time_past(block),
        "nonce": header.nonce,
        "bits": f"{header.bits:08x}",
        "difficulty": difficulty(header.bits),
        "chainwork": chainwork(block),
        "nTx": len(block.txs),
    }
    if block.height > 0:
        out["previousblockhash"] = block.prev
    if node.in_active_chain(block) and block.height < node.height:
        out["nextblockhash"] = node.chain[block.height + 1]
    return out


def block_json(node: Node, block: Block, verbosity: int) -> dict[str, Any]:
    """Core's blockToJSON for verbosity 1 (txids), 2 (decoded txs with fee) and 3 (prevouts)."""
    out = header_json(node, block)
    overhead = 80 + len(varint(len(block.txs)))
    stripped = overhead + sum(len(t.serialize(with_witness=False)) for t in block.txs)
    size = overhead + sum(t.size for t in block.txs)
    out["strippedsize"] = stripped
    out["size"] = size
    out["weight"] = stripped * 3 + size
    if verbosity <= 1:
        out["tx"] = [t.txid for t in block.txs]
    else:
        txs = []
        for index, tx in enumerate(block.txs):
            prevouts = block.undo[index] if verbosity >= 3 and block.undo else None
            txs.append(tx_json(node, tx, fee=node.tx_fee(block, index), prevouts=prevouts))
        out["tx"] = txs
    return out
