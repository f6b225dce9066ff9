"""Encode landed transactions as ``getTransaction`` / ``getBlock`` return them.

RPC docs: "getTransaction" (``EncodedConfirmedTransactionWithStatusMeta``) and
"getBlock"; encodings ``json``, ``jsonParsed``, ``base64``, ``base58``.
"""

from __future__ import annotations

import base64
from typing import Any

from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from sandbox.solana.chain import TokenBalance, TxRecord
from sandbox.solana.codec import InvalidParams, b58encode, ui_token_amount
from sandbox.solana.parsers import memo_of, parse_instruction

ENCODINGS = ("json", "jsonParsed", "base64", "base58")


class UnsupportedVersion(Exception):
    """A v0 transaction requested without ``maxSupportedTransactionVersion`` (-32015)."""


def version_of(tx: VersionedTransaction) -> Any:
    return 0 if isinstance(tx.message, MessageV0) else "legacy"


def check_version(tx: VersionedTransaction, max_version: int | None) -> None:
    version = version_of(tx)
    if version != "legacy" and (max_version is None or max_version < version):
        raise UnsupportedVersion(version)


def _header(tx: VersionedTransaction) -> dict[str, int]:
    header = tx.message.header
    return {
        "numRequiredSignatures": header.num_required_signatures,
        "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
        "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
    }


def _lookups(tx: VersionedTransaction) -> list[dict[str, Any]]:
    message = tx.message
    if not isinstance(message, MessageV0):
        return []
    return [
        {
            "accountKey": str(lookup.account_key),
            "writableIndexes": list(bytes(lookup.writable_indexes)),
            "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
        }
        for lookup in message.address_table_lookups
    ]


def _is_writable(tx: VersionedTransaction, index: int) -> bool:
    header = tx.message.header
    signed = header.num_required_signatures
    static = len(tx.message.account_keys)
    if index < signed:
        return index < signed - header.num_readonly_signed_accounts
    if index < static:
        return index - signed < static - signed - header.num_readonly_unsigned_accounts
    return False


def parsed_account_keys(record: TxRecord) -> list[dict[str, Any]]:
    tx = record.tx
    static = len(tx.message.account_keys)
    signed = tx.message.header.num_required_signatures
    keys = []
    for index, key in enumerate(record.keys):
        loaded_writable = static <= index < static + len(record.loaded_writable)
        keys.append(
            {
                "pubkey": str(key),
                "signer": index < signed,
                "source": "transaction" if index < static else "lookupTable",
                "writable": _is_writable(tx, index) or loaded_writable,
            }
        )
    return keys


def _compiled(
    program_id_index: int, accounts: bytes, data: bytes, stack: int | None
) -> dict[str, Any]:
    return {
        "accounts": list(accounts),
        "data": b58encode(data),
        "programIdIndex": program_id_index,
        "stackHeight": stack,
    }


def _ix(
    record: TxRecord,
    program_id_index: int,
    accounts: bytes,
    data: bytes,
    stack: int | None,
    parsed: bool,
) -> dict[str, Any]:
    if not parsed:
        return _compiled(program_id_index, accounts, data, stack)
    keys: list[Pubkey] = record.keys
    return parse_instruction(keys[program_id_index], [str(keys[i]) for i in accounts], data, stack)


def encode_transaction(record: TxRecord, encoding: str) -> Any:
    """The ``transaction`` field in the requested encoding."""
    tx = record.tx
    if encoding == "base64":
        return [base64.b64encode(bytes(tx)).decode(), "base64"]
    if encoding == "base58":
        return [b58encode(bytes(tx)), "base58"]
    if encoding not in ("json", "jsonParsed"):
        raise InvalidParams(f"unsupported encoding: {encoding}")
    parsed = encoding == "jsonParsed"
    message: dict[str, Any] = {
        "accountKeys": parsed_account_keys(record)
        if parsed
        else [str(k) for k in tx.message.account_keys],
        "recentBlockhash": str(tx.message.recent_blockhash),
        "instructions": [
            _ix(record, ix.program_id_index, bytes(ix.accounts), bytes(ix.data), None, parsed)
            for ix in tx.message.instructions
        ],
    }
    if not parsed:
        message["header"] = _header(tx)
    if isinstance(tx.message, MessageV0):
        message["addressTableLookups"] = _lookups(tx)
    return {"message": message, "signatures": [str(s) for s in tx.signatures]}


def _token_balance(balance: TokenBalance) -> dict[str, Any]:
    return {
        "accountIndex": balance.account_index,
        "mint": balance.mint,
        "owner": balance.owner,
        "programId": balance.program_id,
        "uiTokenAmount": ui_token_amount(balance.amount, balance.decimals),
    }


def encode_meta(record: TxRecord, encoding: str) -> dict[str, Any]:
    """``UiTransactionStatusMeta``: balances in lamports and token base units, as the node sends."""
    parsed = encoding == "jsonParsed"
    inner = []
    for index, group in enumerate(record.inner):
        if not group:
            continue
        ixs = []
        for item in group:
            ix = item.instruction()
            stack = item.stack_height()
            ixs.append(
                _ix(record, ix.program_id_index, bytes(ix.accounts), bytes(ix.data), stack, parsed)
            )
        inner.append({"index": index, "instructions": ixs})
    meta: dict[str, Any] = {
        "err": record.err,
        "status": {"Ok": None} if record.err is None else {"Err": record.err},
        "fee": record.fee,
        "preBalances": record.pre_balances,
        "postBalances": record.post_balances,
        "innerInstructions": inner,
        "logMessages": record.logs,
        "preTokenBalances": [_token_balance(b) for b in record.pre_tokens],
        "postTokenBalances": [_token_balance(b) for b in record.post_tokens],
        "rewards": [],
        "computeUnitsConsumed": record.units,
    }
    if not parsed:
        meta["loadedAddresses"] = {
            "writable": [str(k) for k in record.loaded_writable],
            "readonly": [str(k) for k in record.loaded_readonly],
        }
    return meta


def encode_with_meta(record: TxRecord, encoding: str, max_version: int | None) -> dict[str, Any]:
    """One ``{transaction, meta[, version]}`` entry; ``version`` only when the client opted in."""
    check_version(record.tx, max_version)
    entry = {
        "transaction": encode_transaction(record, encoding),
        "meta": encode_meta(record, encoding),
    }
    if max_version is not None:
        entry["version"] = version_of(record.tx)
    return entry


def memo_field(record: TxRecord) -> str | None:
    """``getSignaturesForAddress`` memo: ``"[len] text"`` per memo, joined by ``"; "``."""
    memos = []
    for ix in record.tx.message.instructions:
        text = memo_of(record.keys[ix.program_id_index], bytes(ix.data))
        if text is not None:
            memos.append(f"[{len(text)}] {text}")
    return "; ".join(memos) or None
