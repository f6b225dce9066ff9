"""``jsonParsed`` instruction decoding for the programs a payment flow touches.

Follows the node's ``solana-transaction-status`` parsers (RPC docs: "JSON
Parsed" encoding): System transfers and account creation, SPL Token
transfers / mints / account set-up, Associated Token Account creation and
Memo. Anything else is returned "partially decoded" (programId, accounts,
base58 data), exactly as the node does for programs it cannot parse.
"""

from __future__ import annotations

import struct
from typing import Any

from solders.pubkey import Pubkey

from sandbox.solana.codec import TOKEN_2022_PROGRAM, TOKEN_PROGRAM, b58encode, ui_token_amount

SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
MEMO_PROGRAMS = (
    Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),
    Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"),
)


def _u64(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<Q", data, offset)[0])


def _system(accounts: list[str], data: bytes) -> dict[str, Any] | None:
    info: dict[str, Any]
    if len(data) < 4:
        return None
    tag = struct.unpack_from("<I", data)[0]
    if tag == 2 and len(data) >= 12 and len(accounts) >= 2:
        info = {
            "source": accounts[0],
            "destination": accounts[1],
            "lamports": _u64(data, 4),
        }
        return {"type": "transfer", "info": info}
    if tag == 0 and len(data) >= 52 and len(accounts) >= 2:
        return {
            "type": "createAccount",
            "info": {
                "source": accounts[0],
                "newAccount": accounts[1],
                "lamports": _u64(data, 4),
                "space": _u64(data, 12),
                "owner": str(Pubkey.from_bytes(data[20:52])),
            },
        }
    return None


def _token(accounts: list[str], data: bytes) -> dict[str, Any] | None:
    info: dict[str, Any]
    if not data:
        return None
    tag, body = data[0], data[1:]
    need = {1: 3, 3: 3, 7: 3, 9: 3, 12: 4, 14: 3, 16: 2, 18: 2, 0: 1, 20: 1}
    if tag not in need or len(accounts) < need[tag]:
        return None
    if tag == 3 and len(body) >= 8:
        info = {
            "source": accounts[0],
            "destination": accounts[1],
            "authority": accounts[2],
            "amount": str(_u64(body, 0)),
        }
        return {"type": "transfer", "info": info}
    if tag == 12 and len(body) >= 9:
        info = {
            "source": accounts[0],
            "mint": accounts[1],
            "destination": accounts[2],
            "authority": accounts[3],
            "tokenAmount": ui_token_amount(_u64(body, 0), body[8]),
        }
        return {"type": "transferChecked", "info": info}
    if tag == 7 and len(body) >= 8:
        info = {
            "mint": accounts[0],
            "account": accounts[1],
            "mintAuthority": accounts[2],
            "amount": str(_u64(body, 0)),
        }
        return {"type": "mintTo", "info": info}
    if tag == 14 and len(body) >= 9:
        info = {
            "mint": accounts[0],
            "account": accounts[1],
            "mintAuthority": accounts[2],
            "tokenAmount": ui_token_amount(_u64(body, 0), body[8]),
        }
        return {"type": "mintToChecked", "info": info}
    if tag == 9:
        info = {
            "account": accounts[0],
            "destination": accounts[1],
            "owner": accounts[2],
        }
        return {"type": "closeAccount", "info": info}
    if tag == 1:
        info = {"account": accounts[0], "mint": accounts[1], "owner": accounts[2]}
        return {"type": "initializeAccount", "info": info}
    if tag in (16, 18) and len(body) >= 32:
        info = {
            "account": accounts[0],
            "mint": accounts[1],
            "owner": str(Pubkey.from_bytes(body[:32])),
        }
        return {"type": "initializeAccount2" if tag == 16 else "initializeAccount3", "info": info}
    if tag in (0, 20) and len(body) >= 34:
        info = {
            "mint": accounts[0],
            "decimals": body[0],
            "mintAuthority": str(Pubkey.from_bytes(body[1:33])),
        }
        if body[33] == 1 and len(body) >= 66:
            info["freezeAuthority"] = str(Pubkey.from_bytes(body[34:66]))
        return {"type": "initializeMint" if tag == 0 else "initializeMint2", "info": info}
    return None


def _ata(accounts: list[str], data: bytes) -> dict[str, Any] | None:
    info: dict[str, Any]
    if len(accounts) < 6 or data[:1] not in (b"", b"\0", b"\1"):
        return None
    info = {
        "source": accounts[0],
        "account": accounts[1],
        "wallet": accounts[2],
        "mint": accounts[3],
        "systemProgram": accounts[4],
        "tokenProgram": accounts[5],
    }
    return {"type": "createIdempotent" if data[:1] == b"\1" else "create", "info": info}


def parse_instruction(
    program_id: Pubkey, accounts: list[str], data: bytes, stack_height: int | None
) -> dict[str, Any]:
    """One instruction in ``jsonParsed`` form (parsed if known, else partially decoded)."""
    parsed: Any = None
    name = ""
    try:
        if program_id == SYSTEM_PROGRAM:
            name, parsed = "system", _system(accounts, data)
        elif program_id in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
            name = "spl-token" if program_id == TOKEN_PROGRAM else "spl-token-2022"
            parsed = _token(accounts, data)
        elif program_id == ATA_PROGRAM:
            name, parsed = "spl-associated-token-account", _ata(accounts, data)
        elif program_id in MEMO_PROGRAMS:
            name, parsed = "spl-memo", data.decode("utf-8")
    except (struct.error, ValueError):
        parsed = None
    if parsed is not None:
        return {
            "program": name,
            "programId": str(program_id),
            "parsed": parsed,
            "stackHeight": stack_height,
        }
    return {
        "accounts": accounts,
        "data": b58encode(data),
        "programId": str(program_id),
        "stackHeight": stack_height,
    }


def memo_of(program_id: Pubkey, data: bytes) -> str | None:
    """The memo text of a Memo-program instruction, else None."""
    if program_id not in MEMO_PROGRAMS:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
