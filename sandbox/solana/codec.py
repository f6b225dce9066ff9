"""Wire encodings of the Solana JSON-RPC API: base58, token amounts, errors, accounts.

Shapes follow the Solana RPC docs ("HTTP Methods", "Data Encoding" and the
``UiTokenAmount`` / ``UiAccount`` structures of the account decoder).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction_status import TransactionStatus

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
TOKEN_ACCOUNT_LEN = 165
MINT_LEN = 82
U64_MAX = 2**64 - 1  # rentEpoch of rent-exempt accounts on current clusters

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}


class InvalidParams(ValueError):
    """A request parameter the real node would answer with -32602."""


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58, as Solana uses for keys, signatures and instruction data."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, rem = divmod(n, 58)
        out.append(_ALPHABET[rem])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    n = 0
    for char in text:
        if char not in _INDEX:
            raise InvalidParams(f"invalid base58 character {char!r}")
        n = n * 58 + _INDEX[char]
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\0" * pad + body


def decode_binary(data: str, encoding: str) -> bytes:
    """Decode a transaction or message sent as ``base58`` (the default) or ``base64``."""
    if encoding == "base64":
        try:
            return base64.b64decode(data, validate=True)
        except ValueError as exc:
            raise InvalidParams(f"invalid base64 encoding: {exc}") from exc
    if encoding == "base58":
        return b58decode(data)
    raise InvalidParams(f"unsupported encoding: {encoding}. Supported encodings: base58, base64")


def ui_token_amount(amount: int, decimals: int) -> dict[str, Any]:
    """``UiTokenAmount``: the integer amount as a string plus display forms.

    ``uiAmount`` is a float because that is the wire format; consumers must
    use ``amount`` (integer base units) for money.
    """
    whole, frac = divmod(amount, 10**decimals)
    text = str(whole)
    if decimals and frac:
        text += "." + str(frac).rjust(decimals, "0").rstrip("0")
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(text),
        "uiAmountString": text,
    }


def err_json(err: Any) -> Any:
    """JSON of a solders TransactionErrorType, e.g. ``{"InstructionError": [0, {"Custom": 1}]}``."""
    if err is None:
        return None
    return json.loads(TransactionStatus(0, None, None, err, None).to_json())["err"]


_TX_ERR_TEXT = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "SignatureFailure": "Transaction did not pass signature verification",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
}
_IX_ERR_TEXT = {
    "InsufficientFunds": "insufficient funds for instruction",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "MissingRequiredSignature": "missing required signature for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "NotEnoughAccountKeys": "insufficient account keys for instruction",
}


def err_message(err: Any) -> str:
    """The node's ``Display`` text for a TransactionError, used in preflight failure messages."""
    if isinstance(err, str):
        return _TX_ERR_TEXT.get(err, err)
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        if isinstance(inner, dict) and "Custom" in inner:
            text = f"custom program error: {inner['Custom']:#x}"
        else:
            text = _IX_ERR_TEXT.get(str(inner), str(inner))
        return f"Error processing Instruction {index}: {text}"
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        index = err["InsufficientFundsForRent"].get("account_index")
        return f"Transaction results in an account ({index}) with insufficient funds for rent"
    return json.dumps(err)


def parse_token_account(account: Account) -> TokenAccount | None:
    """The SPL token account state held by ``account``, or None if it is not one."""
    data = bytes(account.data)
    if account.owner not in TOKEN_PROGRAMS or len(data) < TOKEN_ACCOUNT_LEN:
        return None
    # Token-2022 accounts with extensions carry an account-type byte after the base layout.
    if len(data) > TOKEN_ACCOUNT_LEN and data[TOKEN_ACCOUNT_LEN] != 2:
        return None
    try:
        state = TokenAccount.from_bytes(data[:TOKEN_ACCOUNT_LEN])
    except ValueError:
        return None
    if state.state == TokenAccountState.Uninitialized:
        return None
    return state


def parse_mint(account: Account) -> Mint | None:
    data = bytes(account.data)
    if account.owner not in TOKEN_PROGRAMS:
        return None
    # Base mints are exactly 82 bytes; Token-2022 mints with extensions mark type 1 at byte 165.
    extended = len(data) > TOKEN_ACCOUNT_LEN and data[TOKEN_ACCOUNT_LEN] == 1
    if len(data) != MINT_LEN and not extended:
        return None
    try:
        mint = Mint.from_bytes(data[:MINT_LEN])
    except ValueError:
        return None
    return mint if mint.is_initialized else None


def _opt(key: Pubkey | None) -> str | None:
    return str(key) if key is not None else None


def parsed_account_data(
    account: Account, decimals: Callable[[Pubkey], int | None]
) -> dict[str, Any] | None:
    """``jsonParsed`` SPL token account / mint data (RPC docs: "JSON Parsed Account Data")."""
    program = "spl-token" if account.owner == TOKEN_PROGRAM else "spl-token-2022"
    state = parse_token_account(account)
    if state is not None:
        mint_decimals = decimals(state.mint)
        if mint_decimals is None:
            return None
        info: dict[str, Any] = {
            "isNative": state.is_native is not None,
            "mint": str(state.mint),
            "owner": str(state.owner),
            "state": "frozen" if state.state == TokenAccountState.Frozen else "initialized",
            "tokenAmount": ui_token_amount(state.amount, mint_decimals),
        }
        if state.delegate is not None:
            info["delegate"] = str(state.delegate)
            info["delegatedAmount"] = ui_token_amount(state.delegated_amount, mint_decimals)
        if state.close_authority is not None:
            info["closeAuthority"] = str(state.close_authority)
        parsed = {"type": "account", "info": info}
    else:
        mint = parse_mint(account)
        if mint is None:
            return None
        parsed = {
            "type": "mint",
            "info": {
                "decimals": mint.decimals,
                "freezeAuthority": _opt(mint.freeze_authority),
                "isInitialized": True,
                "mintAuthority": _opt(mint.mint_authority),
                "supply": str(mint.supply),
            },
        }
    return {"program": program, "parsed": parsed, "space": len(account.data)}


def ui_account(
    account: Account,
    encoding: str,
    decimals: Callable[[Pubkey], int | None],
    data_slice: dict[str, int] | None = None,
    lamports: int | None = None,
) -> dict[str, Any]:
    """``UiAccount`` in the requested encoding; unparseable ``jsonParsed`` falls back to base64."""
    raw = bytes(account.data)
    data: Any = None
    if encoding == "jsonParsed":
        data = parsed_account_data(account, decimals)
        encoding = "base64" if data is None else encoding
    if data is None:
        if data_slice:
            offset = int(data_slice.get("offset", 0))
            raw = raw[offset : offset + int(data_slice.get("length", 0))]
        if encoding == "base64":
            data = [base64.b64encode(raw).decode(), "base64"]
        elif encoding == "base58":
            data = [b58encode(raw), "base58"]
        elif encoding == "binary":
            data = b58encode(raw)  # the deprecated default: a bare base58 string
        else:
            raise InvalidParams(f"unsupported account encoding: {encoding}")
    return {
        "data": data,
        "executable": account.executable,
        "lamports": account.lamports if lamports is None else lamports,
        "owner": str(account.owner),
        "rentEpoch": U64_MAX,
        "space": len(account.data),
    }
