"""Solana JSON-RPC 2.0 methods over the sandbox :class:`~sandbox.solana.chain.Chain`.

Each method follows the section of the same name in the Solana RPC docs
("HTTP Methods"); request configs and response shapes match the node,
including its error codes (-32002 preflight failure with simulation data,
-32003 signature failure, -32004 block not available, -32007 slot skipped,
-32015 unsupported transaction version, -32602 invalid params).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from sandbox.solana.chain import SLOTS_PER_EPOCH, Chain, TxRecord, TxRejected
from sandbox.solana.codec import (
    TOKEN_PROGRAMS,
    InvalidParams,
    decode_binary,
    err_json,
    err_message,
    parse_mint,
    parse_token_account,
    ui_account,
    ui_token_amount,
)
from sandbox.solana.encode import (
    UnsupportedVersion,
    encode_meta,
    encode_with_meta,
    memo_field,
    parsed_account_keys,
)
from sandbox.solana.faucet import Faucet

API_VERSION = "2.2.16"
FEATURE_SET = 3294202862
LAMPORTS_PER_SIGNATURE = 5000
_COMMITMENT_ALIASES = {
    "processed": "processed",
    "recent": "processed",
    "confirmed": "confirmed",
    "single": "confirmed",
    "singleGossip": "confirmed",
    "finalized": "finalized",
    "root": "finalized",
    "max": "finalized",
}


class RpcError(Exception):
    """A JSON-RPC error object ``{code, message, data?}``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def _param(params: list[Any], index: int) -> Any:
    return params[index] if len(params) > index else None


def _config(params: list[Any], index: int) -> dict[str, Any]:
    config = _param(params, index)
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidParams("Invalid params: invalid type: expected a config map")
    return {k: v for k, v in config.items() if v is not None}


def _pubkey(value: Any) -> Pubkey:
    if not isinstance(value, str):
        raise InvalidParams("Invalid param: Invalid")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise InvalidParams("Invalid param: Invalid") from None


def _signature(value: Any) -> Signature:
    if not isinstance(value, str):
        raise InvalidParams("Invalid param: Invalid")
    try:
        return Signature.from_string(value)
    except ValueError:
        raise InvalidParams("Invalid param: Invalid") from None


def _commitment(config: dict[str, Any], minimum: str | None = None) -> str:
    raw = config.get("commitment", "finalized")
    commitment = _COMMITMENT_ALIASES.get(raw) if isinstance(raw, str) else None
    if commitment is None:
        raise InvalidParams(f"Invalid params: unknown commitment `{raw}`")
    if minimum == "confirmed" and commitment == "processed":
        raise InvalidParams("Method does not support commitment below `confirmed`")
    return commitment


def _max_version(config: dict[str, Any]) -> int | None:
    value = config.get("maxSupportedTransactionVersion")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise InvalidParams("Invalid params: maxSupportedTransactionVersion must be 0")
    return value


def _deserialize(data: Any, encoding: str) -> VersionedTransaction:
    if not isinstance(data, str):
        raise InvalidParams("Invalid params: expected an encoded transaction string")
    raw = decode_binary(data, encoding)
    try:
        tx = VersionedTransaction.from_bytes(raw)
    except Exception as exc:  # solders raises its own error types for malformed bytes
        raise InvalidParams(
            f"failed to deserialize solana_transaction::versioned::VersionedTransaction: {exc}"
        ) from None
    try:
        tx.sanitize()
    except Exception:  # any sanitize failure is the same client error
        raise InvalidParams(
            "invalid transaction: Transaction failed to sanitize accounts offsets correctly"
        ) from None
    return tx


def _unsupported_version(version: Any) -> RpcError:
    return RpcError(
        -32015,
        f"Transaction version ({version}) is not supported by the requesting client. "
        "Please try the request again with the following configuration parameter: "
        f'"maxSupportedTransactionVersion": {version}',
    )


class SolanaRpc:
    """The JSON-RPC method table of the stand-in node."""

    def __init__(self, chain: Chain, faucet: Faucet, drop: Callable[[], bool]) -> None:
        self.chain = chain
        self.faucet = faucet
        self._drop = drop
        self.methods: dict[str, Callable[[list[Any]], Any]] = {
            "getAccountInfo": self.get_account_info,
            "getBalance": self.get_balance,
            "getBlock": self.get_block,
            "getBlockHeight": self.get_block_height,
            "getBlockTime": self.get_block_time,
            "getBlocks": self.get_blocks,
            "getBlocksWithLimit": self.get_blocks_with_limit,
            "getEpochInfo": self.get_epoch_info,
            "getFeeForMessage": self.get_fee_for_message,
            "getFirstAvailableBlock": lambda params: 0,
            "getGenesisHash": lambda params: str(self.chain.blockhash(0)),
            "getHealth": lambda params: "ok",
            "getLatestBlockhash": self.get_latest_blockhash,
            "getMinimumBalanceForRentExemption": self.get_minimum_balance_for_rent_exemption,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getRecentPrioritizationFees": lambda params: [],
            "getSignatureStatuses": self.get_signature_statuses,
            "getSignaturesForAddress": self.get_signatures_for_address,
            "getSlot": self.get_slot,
            "getTokenAccountBalance": self.get_token_account_balance,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getTokenSupply": self.get_token_supply,
            "getTransaction": self.get_transaction,
            "getTransactionCount": lambda params: self.chain.transaction_count(),
            "getVersion": lambda params: {"feature-set": FEATURE_SET, "solana-core": API_VERSION},
            "isBlockhashValid": self.is_blockhash_valid,
            "requestAirdrop": self.request_airdrop,
            "sendTransaction": self.send_transaction,
            "simulateTransaction": self.simulate_transaction,
        }

    def call(self, method: str, params: list[Any]) -> Any:
        handler = self.methods.get(method)
        if handler is None:
            raise RpcError(-32601, "Method not found")
        try:
            return handler(params)
        except InvalidParams as exc:
            raise RpcError(-32602, str(exc)) from None
        except UnsupportedVersion as exc:
            raise _unsupported_version(exc.args[0]) from None

    def _context(self, slot: int, value: Any) -> dict[str, Any]:
        return {"context": {"apiVersion": API_VERSION, "slot": slot}, "value": value}

    # -- cluster ----------------------------------------------------------------

    def get_slot(self, params: list[Any]) -> int:
        """RPC docs: getSlot."""
        return self.chain.slot(_commitment(_config(params, 0)))

    def get_block_height(self, params: list[Any]) -> int:
        """RPC docs: getBlockHeight."""
        return self.chain.height(_commitment(_config(params, 0)))

    def get_epoch_info(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getEpochInfo."""
        commitment = _commitment(_config(params, 0))
        slot = self.chain.slot(commitment)
        return {
            "absoluteSlot": slot,
            "blockHeight": self.chain.height(commitment),
            "epoch": slot // SLOTS_PER_EPOCH,
            "slotIndex": slot % SLOTS_PER_EPOCH,
            "slotsInEpoch": SLOTS_PER_EPOCH,
            "transactionCount": self.chain.transaction_count(),
        }

    def get_latest_blockhash(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getLatestBlockhash — blockhash at the commitment plus lastValidBlockHeight."""
        blockhash, last_valid, slot = self.chain.latest_blockhash(_commitment(_config(params, 0)))
        return self._context(
            slot, {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        )

    def is_blockhash_valid(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: isBlockhashValid."""
        blockhash = _param(params, 0)
        if not isinstance(blockhash, str):
            raise InvalidParams("Invalid param: Invalid")
        commitment = _commitment(_config(params, 1))
        return self._context(self.chain.slot(commitment), self.chain.blockhash_valid(blockhash))

    def get_fee_for_message(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getFeeForMessage — 5000 lamports per signature while the blockhash is valid."""
        raw = decode_binary(_param(params, 0) or "", "base64")
        commitment = _commitment(_config(params, 1))
        try:
            message: Message | MessageV0 = (
                MessageV0.from_bytes(raw[1:])
                if raw[:1] and raw[0] & 0x80
                else Message.from_bytes(raw)
            )
        except Exception:  # malformed message bytes of any kind
            raise InvalidParams("Invalid params: invalid message") from None
        fee = None
        if self.chain.blockhash_valid(str(message.recent_blockhash)):
            fee = LAMPORTS_PER_SIGNATURE * message.header.num_required_signatures
        return self._context(self.chain.slot(commitment), fee)

    def get_minimum_balance_for_rent_exemption(self, params: list[Any]) -> int:
        """RPC docs: getMinimumBalanceForRentExemption."""
        size = _param(params, 0)
        if not isinstance(size, int) or size < 0:
            raise InvalidParams("Invalid params: expected a data length")
        return self.chain.rent_exempt_minimum(size)

    # -- accounts -----------------------------------------------------------------

    def get_balance(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getBalance — lamports as of the requested commitment."""
        address = _pubkey(_param(params, 0))
        commitment = _commitment(_config(params, 1))
        return self._context(
            self.chain.slot(commitment), self.chain.lamports_at(address, commitment)
        )

    def _ui_account(
        self, address: Pubkey, config: dict[str, Any], commitment: str
    ) -> dict[str, Any] | None:
        account = self.chain.account(address)
        lamports = self.chain.lamports_at(address, commitment)
        if account is None or lamports == 0:
            return None
        encoding = config.get("encoding", "binary")
        return ui_account(account, encoding, self.chain.decimals, config.get("dataSlice"), lamports)

    def get_account_info(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getAccountInfo (base58, base64; jsonParsed for SPL token accounts, mints)."""
        address = _pubkey(_param(params, 0))
        config = _config(params, 1)
        commitment = _commitment(config)
        return self._context(
            self.chain.slot(commitment), self._ui_account(address, config, commitment)
        )

    def get_multiple_accounts(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getMultipleAccounts."""
        addresses = _param(params, 0)
        if not isinstance(addresses, list) or len(addresses) > 100:
            raise InvalidParams("Too many inputs provided; max 100")
        config = _config(params, 1)
        commitment = _commitment(config)
        value = [self._ui_account(_pubkey(a), config, commitment) for a in addresses]
        return self._context(self.chain.slot(commitment), value)

    def get_token_account_balance(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getTokenAccountBalance."""
        address = _pubkey(_param(params, 0))
        commitment = _commitment(_config(params, 1))
        account = self.chain.account(address)
        if account is None:
            raise InvalidParams("Invalid param: could not find account")
        state = parse_token_account(account)
        if state is None:
            raise InvalidParams("Invalid param: not a Token account")
        amount = self.chain.token_amount_at(address, commitment)
        if amount is None:
            raise InvalidParams("Invalid param: could not find account")
        decimals = self.chain.decimals(state.mint) or 0
        return self._context(self.chain.slot(commitment), ui_token_amount(amount, decimals))

    def get_token_accounts_by_owner(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getTokenAccountsByOwner (filter by ``mint`` or ``programId``)."""
        owner = _pubkey(_param(params, 0))
        selector = _param(params, 1)
        config = _config(params, 2)
        commitment = _commitment(config)
        if not isinstance(selector, dict) or not ({"mint", "programId"} & set(selector)):
            raise InvalidParams("Invalid params: expected a mint or programId filter")
        mint = None
        programs: tuple[Pubkey, ...] = TOKEN_PROGRAMS
        if "mint" in selector:
            mint = _pubkey(selector["mint"])
            mint_account = self.chain.account(mint)
            if mint_account is None or parse_mint(mint_account) is None:
                raise InvalidParams("Invalid param: could not find mint")
            programs = (mint_account.owner,)
        else:
            program = _pubkey(selector["programId"])
            if program not in TOKEN_PROGRAMS:
                raise InvalidParams("Invalid param: unrecognized Token program id")
            programs = (program,)
        value = []
        for program in programs:
            for address, account in self.chain.accounts_of(program):
                state = parse_token_account(account)
                if (
                    state is None
                    or state.owner != owner
                    or (mint is not None and state.mint != mint)
                ):
                    continue
                encoded = ui_account(
                    account,
                    config.get("encoding", "binary"),
                    self.chain.decimals,
                    config.get("dataSlice"),
                )
                value.append({"pubkey": str(address), "account": encoded})
        return self._context(self.chain.slot(commitment), value)

    def get_token_supply(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getTokenSupply."""
        address = _pubkey(_param(params, 0))
        commitment = _commitment(_config(params, 1))
        account = self.chain.account(address)
        mint = parse_mint(account) if account is not None else None
        if mint is None:
            raise InvalidParams("Invalid param: not a Token mint")
        return self._context(
            self.chain.slot(commitment), ui_token_amount(mint.supply, mint.decimals)
        )

    # -- transactions -------------------------------------------------------------

    def send_transaction(self, params: list[Any]) -> str:
        """RPC docs: sendTransaction — preflight-simulated unless ``skipPreflight``.

        The signature is returned as soon as the node accepts the transaction;
        with ``skipPreflight`` (or an injected drop) an unlandable transaction
        is accepted and silently never lands, as on a real cluster.
        """
        config = _config(params, 1)
        tx = _deserialize(_param(params, 0), config.get("encoding", "base58"))
        try:
            self.chain.submit(tx, preflight=not config.get("skipPreflight", False), drop=self._drop)
        except TxRejected as exc:
            if exc.err == "SignatureFailure":
                raise RpcError(-32003, "Transaction signature verification failure") from None
            data = {
                "accounts": None,
                "err": exc.err,
                "innerInstructions": None,
                "loadedAccountsDataSize": 0,
                "logs": exc.logs,
                "replacementBlockhash": None,
                "returnData": None,
                "unitsConsumed": exc.units,
            }
            raise RpcError(
                -32002, f"Transaction simulation failed: {err_message(exc.err)}", data
            ) from None
        return str(tx.signatures[0])

    def simulate_transaction(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: simulateTransaction (sigVerify, replaceRecentBlockhash, accounts)."""
        config = _config(params, 1)
        tx = _deserialize(_param(params, 0), config.get("encoding", "base58"))
        commitment = _commitment(config)
        replace = bool(config.get("replaceRecentBlockhash"))
        if replace and config.get("sigVerify"):
            raise InvalidParams("sigVerify may not be used with replaceRecentBlockhash")
        if config.get("sigVerify") and not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")
        value: dict[str, Any] = {
            "accounts": None,
            "err": None,
            "innerInstructions": None,
            "loadedAccountsDataSize": 0,
            "logs": [],
            "replacementBlockhash": None,
            "returnData": None,
            "unitsConsumed": 0,
        }
        slot = self.chain.slot(commitment)
        if replace:
            # LiteSVM ignores the blockhash, so "replacing" it only changes what we report.
            blockhash, last_valid, _ = self.chain.latest_blockhash(commitment)
            value["replacementBlockhash"] = {
                "blockhash": str(blockhash),
                "lastValidBlockHeight": last_valid,
            }
        elif not self.chain.blockhash_valid(str(tx.message.recent_blockhash)):
            value["err"] = "BlockhashNotFound"
            return self._context(slot, value)
        result = self.chain.simulate(tx)
        post: dict[Pubkey, Any] = {}
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            value["err"] = err_json(result.err())
        else:
            meta = result.meta()
            post = dict(result.post_accounts())
        value["logs"] = list(meta.logs())
        value["unitsConsumed"] = meta.compute_units_consumed()
        value["fee"] = meta.fee()
        returned = meta.return_data()
        if returned is not None and bytes(returned.data):
            value["returnData"] = {
                "programId": str(returned.program_id),
                "data": [base64.b64encode(bytes(returned.data)).decode(), "base64"],
            }
        wanted = config.get("accounts")
        if isinstance(wanted, dict):
            encoding = wanted.get("encoding", "base64")
            accounts = []
            for text in wanted.get("addresses") or []:
                address = _pubkey(text)
                account = post.get(address) or self.chain.account(address)
                accounts.append(
                    None if account is None else ui_account(account, encoding, self.chain.decimals)
                )
            value["accounts"] = accounts
        return self._context(slot, value)

    def request_airdrop(self, params: list[Any]) -> str:
        """RPC docs: requestAirdrop — a real transfer signed by the sandbox faucet."""
        address = _pubkey(_param(params, 0))
        lamports = _param(params, 1)
        if not isinstance(lamports, int) or isinstance(lamports, bool) or lamports <= 0:
            raise InvalidParams("Invalid params: lamports must be a positive integer")
        try:
            return self.faucet.send_sol(address, lamports).signature
        except TxRejected:
            raise RpcError(
                -32603, "airdrop request failed. This can happen when the rate limit is reached."
            ) from None

    def _status(self, record: TxRecord) -> dict[str, Any]:
        confirmation, confirmations = self.chain.status(record)
        return {
            "slot": record.slot,
            "confirmations": confirmations,
            "err": record.err,
            "status": {"Ok": None} if record.err is None else {"Err": record.err},
            "confirmationStatus": confirmation,
        }

    def get_signature_statuses(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getSignatureStatuses — recent status cache unless searchTransactionHistory."""
        signatures = _param(params, 0)
        if not isinstance(signatures, list):
            raise InvalidParams("Invalid params: expected an array of signatures")
        if len(signatures) > 256:
            raise InvalidParams("Too many inputs provided; max 256")
        search = bool(_config(params, 1).get("searchTransactionHistory"))
        # The node's status cache holds about two blockhash lifetimes of rooted slots.
        oldest = self.chain.height("finalized") - 2 * self.chain.config.blockhash_validity
        value: list[dict[str, Any] | None] = []
        for text in signatures:
            record = self.chain.record(str(_signature(text)))
            if (
                record is not None
                and not search
                and (self.chain.height_of_slot(record.slot) or 0) < oldest
            ):
                record = None
            value.append(None if record is None else self._status(record))
        return self._context(self.chain.slot(), value)

    def get_transaction(self, params: list[Any]) -> dict[str, Any] | None:
        """RPC docs: getTransaction (json, jsonParsed, base64, base58; confirmed or finalized)."""
        signature = _signature(_param(params, 0))
        raw_config = _param(params, 1)
        config: dict[str, Any] = (
            {"encoding": raw_config} if isinstance(raw_config, str) else _config(params, 1)
        )
        commitment = _commitment(config, minimum="confirmed")
        record = self.chain.record(str(signature))
        if record is None or record.slot > self.chain.slot(commitment):
            return None
        entry = encode_with_meta(record, config.get("encoding", "json"), _max_version(config))
        return {"slot": record.slot, "blockTime": record.block_time, **entry}

    def get_signatures_for_address(self, params: list[Any]) -> list[dict[str, Any]]:
        """RPC docs: getSignaturesForAddress — newest first, paged with before/until."""
        address = _pubkey(_param(params, 0))
        config = _config(params, 1)
        commitment = _commitment(config, minimum="confirmed")
        limit = config.get("limit", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidParams("Invalid limit; max 1000")
        before = str(_signature(config["before"])) if "before" in config else None
        until = str(_signature(config["until"])) if "until" in config else None
        cutoff = self.chain.slot(commitment)
        out: list[dict[str, Any]] = []
        started = before is None
        for record in reversed(self.chain.records_for(address)):
            if record.slot > cutoff:
                continue
            if not started:
                started = record.signature == before
                continue
            if record.signature == until or len(out) >= limit:
                break
            out.append(
                {
                    "signature": record.signature,
                    "slot": record.slot,
                    "err": record.err,
                    "memo": memo_field(record),
                    "blockTime": record.block_time,
                    "confirmationStatus": self.chain.status(record)[0],
                }
            )
        return out

    # -- blocks -------------------------------------------------------------------

    def get_block(self, params: list[Any]) -> dict[str, Any]:
        """RPC docs: getBlock (transactionDetails full/signatures/accounts/none; >= confirmed)."""
        slot = _param(params, 0)
        if not isinstance(slot, int) or slot < 0:
            raise InvalidParams("Invalid params: expected a slot number")
        raw_config = _param(params, 1)
        config: dict[str, Any] = (
            {"encoding": raw_config} if isinstance(raw_config, str) else _config(params, 1)
        )
        commitment = _commitment(config, minimum="confirmed")
        if slot > self.chain.slot(commitment):
            raise RpcError(-32004, f"Block not available for slot {slot}")
        block = self.chain.block(slot)
        if block is None:
            raise RpcError(
                -32007, f"Slot {slot} was skipped, or missing due to ledger jump to recent snapshot"
            )
        encoding = config.get("encoding", "json")
        max_version = _max_version(config)
        details = config.get("transactionDetails", "full")
        result: dict[str, Any] = {
            "blockHeight": block.height,
            "blockTime": block.block_time,
            "blockhash": block.blockhash,
            "parentSlot": block.parent_slot,
            "previousBlockhash": block.previous_blockhash,
        }
        if details == "full":
            result["transactions"] = [encode_with_meta(r, encoding, max_version) for r in block.txs]
        elif details == "signatures":
            result["signatures"] = [r.signature for r in block.txs]
        elif details == "accounts":
            result["transactions"] = [self._accounts_entry(r, max_version) for r in block.txs]
        elif details != "none":
            raise InvalidParams(f"Invalid params: unknown transactionDetails `{details}`")
        if config.get("rewards", True):
            result["rewards"] = []
        return result

    def _accounts_entry(self, record: TxRecord, max_version: int | None) -> dict[str, Any]:
        entry = encode_with_meta(record, "json", max_version)
        meta = encode_meta(record, "json")
        for key in ("innerInstructions", "logMessages", "loadedAddresses", "computeUnitsConsumed"):
            meta.pop(key, None)
        entry["meta"] = meta
        entry["transaction"] = {
            "accountKeys": parsed_account_keys(record),
            "signatures": [record.signature],
        }
        return entry

    def get_blocks(self, params: list[Any]) -> list[int]:
        """RPC docs: getBlocks — produced (non-skipped) slots in [start, end]."""
        start = _param(params, 0)
        end = _param(params, 1)
        config = _config(params, 2) if not isinstance(end, dict) else (end or {})
        end = end if isinstance(end, int) else None
        commitment = _commitment(config, minimum="confirmed")
        if not isinstance(start, int) or start < 0:
            raise InvalidParams("Invalid params: expected a start slot")
        last = min(end if end is not None else 2**63, self.chain.slot(commitment))
        if last - start > 500_000:
            raise InvalidParams("Slot range too large; max 500000")
        return self.chain.blocks(start, last)

    def get_blocks_with_limit(self, params: list[Any]) -> list[int]:
        """RPC docs: getBlocksWithLimit."""
        start, limit = _param(params, 0), _param(params, 1)
        commitment = _commitment(_config(params, 2), minimum="confirmed")
        if not isinstance(start, int) or not isinstance(limit, int) or limit < 0:
            raise InvalidParams("Invalid params: expected start slot and limit")
        if limit > 500_000:
            raise InvalidParams("Limit too large; max 500000")
        return self.chain.blocks(start, self.chain.slot(commitment))[:limit]

    def get_block_time(self, params: list[Any]) -> int:
        """RPC docs: getBlockTime."""
        slot = _param(params, 0)
        if not isinstance(slot, int):
            raise InvalidParams("Invalid params: expected a slot number")
        if slot > self.chain.slot("confirmed"):
            raise RpcError(-32004, f"Block not available for slot {slot}")
        block_time = self.chain.block_time(slot)
        if block_time is None:
            raise RpcError(
                -32007, f"Slot {slot} was skipped, or missing due to ledger jump to recent snapshot"
            )
        return block_time
