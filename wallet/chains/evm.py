"""Ethereum adapter over web3.py (JSON-RPC over HTTP).

Scanning, per the Ethereum JSON-RPC spec: ERC-20 ``Transfer`` logs come
from ``eth_getLogs`` over the whole range, filtered by the Transfer topic
and the allowlisted token contracts (recipients are matched locally
against a set); native ETH from block bodies (``eth_getBlockByNumber`` with
full transactions, sent as JSON-RPC batches). The number of calls grows
with the number of blocks, never with the number of watched addresses;
only a *matching* transfer costs one receipt lookup. With ``watch_spoofs``
one more ``eth_getLogs`` without the contract filter reports Transfer logs
from non-allowlisted contracts to our addresses as security events.

Limits: ETH moved to us by a contract's internal call (not the top-level
``value``) is not seen by block bodies; that needs ``debug_trace*``.

Sends: EIP-1559 transactions. The nonce comes from ``evm_nonces`` under a
row lock, taking the node's pending count when it is ahead, and the
signed bytes are stored with the broadcast record
(:mod:`wallet.chains.broadcast`): a retry re-sends the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.assets import Chain, get_asset
from wallet.chains.base import (
    BlockRef,
    CreditCheck,
    Observation,
    ObservationStatus,
    ScanResult,
    SignedTransfer,
    TransferIntent,
    TxState,
    TxStatus,
)
from wallet.chains.models import EvmNonce
from wallet.custody.errors import ChainError
from wallet.custody.signer import ERC20_TRANSFER, Signer

log = logging.getLogger(__name__)

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
BALANCE_OF = "0x70a08231"
NATIVE_GAS = 21_000
TOKEN_GAS = 90_000  # generous: the fee cap, not the fee paid


def _addr_topic(topic: str) -> str:
    return "0x" + topic[-40:].lower()


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


class EvmAdapter:
    """One EVM chain; ``tokens`` maps allowlisted symbols to contract addresses."""

    chain = Chain.ETHEREUM

    def __init__(
        self,
        url: str,
        tokens: Mapping[str, str],
        *,
        chain_id: int,
        http_session: Any = None,
        log_chunk: int = 2_000,
        block_batch: int = 100,
        watch_spoofs: bool = False,
        timeout_s: float = 15.0,
    ) -> None:
        from eth_utils import to_checksum_address
        from web3 import Web3

        provider = Web3.HTTPProvider(
            url,
            request_kwargs={"timeout": timeout_s},
            session=http_session,
            exception_retry_configuration=None,  # retries are ours, keyed, and counted
        )
        self._provider = provider
        self._w3 = Web3(provider)
        self.chain_id = chain_id
        self.tokens: dict[str, str] = {
            sym: str(to_checksum_address(addr)) for sym, addr in tokens.items()
        }
        self._by_contract = {addr.lower(): sym for sym, addr in self.tokens.items()}
        self.log_chunk = log_chunk
        self.block_batch = block_batch
        self.watch_spoofs = watch_spoofs

    def __repr__(self) -> str:
        return f"EvmAdapter(chain_id={self.chain_id})"

    # -- raw JSON-RPC ----------------------------------------------------------

    def _rpc(self, method: str, params: list[Any]) -> Any:
        try:
            reply = self._w3.provider.make_request(method, params)  # type: ignore[arg-type]
        except Exception as exc:
            raise ChainError(f"{method} failed: {type(exc).__name__}") from None
        if "error" in reply:
            error = reply["error"]
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            raise ChainError(f"{method}: {message}")
        return reply.get("result")

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        if not calls:
            return []
        try:
            replies = self._provider.make_batch_request(calls)  # type: ignore[arg-type]
        except Exception as exc:
            raise ChainError(f"batch failed: {type(exc).__name__}") from None
        if not isinstance(replies, list):
            raise ChainError(f"batch failed: {replies.get('error')}")
        out = []
        for reply in replies:
            if "error" in reply:
                raise ChainError(f"batch item failed: {reply['error']}")
            out.append(reply.get("result"))
        return out

    # -- reads -----------------------------------------------------------------

    def normalise(self, address: str) -> str:
        return address.lower()

    def head(self) -> BlockRef:
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        return BlockRef(_int(block["number"]), block["hash"])

    def block_hash(self, height: int) -> str | None:
        block = self._rpc("eth_getBlockByNumber", [hex(height), False])
        return None if block is None else str(block["hash"])

    def block_hashes(self, heights: Sequence[int]) -> dict[int, str | None]:
        """One JSON-RPC batch per ``block_batch`` heights (headers only)."""
        wanted = sorted(set(heights))
        found: dict[int, str | None] = {}
        for i in range(0, len(wanted), self.block_batch):
            chunk = wanted[i : i + self.block_batch]
            blocks = self._batch([("eth_getBlockByNumber", [hex(h), False]) for h in chunk])
            for height, block in zip(chunk, blocks, strict=True):
                found[height] = None if block is None else str(block["hash"])
        return found

    def balance(self, address: str, asset: str, block: str | int = "latest") -> int:
        tag = hex(block) if isinstance(block, int) else block
        contract = self.tokens.get(asset)
        if contract is None:
            if get_asset(asset).is_native:
                return _int(self._rpc("eth_getBalance", [address, tag]))
            raise ChainError(f"{asset} has no configured contract")
        data = BALANCE_OF + "0" * 24 + address.lower()[2:]
        return _int(self._rpc("eth_call", [{"to": contract, "data": data}, tag]) or "0x0")

    def _fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas): twice the base fee plus the tip."""
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        base = _int(block.get("baseFeePerGas") or "0x0")
        tip = _int(self._rpc("eth_maxPriorityFeePerGas", []))
        return 2 * base + tip, tip

    def estimate_fee(self, asset: str) -> int:
        max_fee, _tip = self._fees()
        return max_fee * (NATIVE_GAS if get_asset(asset).is_native else TOKEN_GAS)

    # -- sends -----------------------------------------------------------------

    def _allocate_nonce(self, session: Session, address: str) -> int:
        """Next nonce: ours under a row lock, or the node's pending count if ahead."""
        from wallet.db.upsert import dialect_insert

        insert = dialect_insert(session)
        session.execute(
            insert(EvmNonce)
            .values(chain=self.chain.value, address=address.lower(), next_nonce=0)
            .on_conflict_do_nothing()
        )
        row = session.scalars(
            select(EvmNonce)
            .where(EvmNonce.chain == self.chain.value, EvmNonce.address == address.lower())
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        pending = _int(self._rpc("eth_getTransactionCount", [address, "pending"]))
        nonce = max(row.next_nonce, pending)
        row.next_nonce = nonce + 1
        session.flush()
        return nonce

    def build_and_sign(
        self, session: Session, intent: TransferIntent, signer: Signer
    ) -> SignedTransfer:
        from eth_utils import keccak, to_checksum_address

        native = get_asset(intent.asset).is_native
        max_fee, tip = self._fees()
        if native:
            to, value, data, gas = intent.to_address, intent.amount_minor, "0x", NATIVE_GAS
        else:
            contract = self.tokens.get(intent.asset)
            if contract is None:
                raise ChainError(f"{intent.asset} has no configured contract")
            payload = (
                ERC20_TRANSFER
                + bytes(12)
                + bytes.fromhex(to_checksum_address(intent.to_address)[2:])
                + intent.amount_minor.to_bytes(32, "big")
            )
            to, value, data, gas = contract, 0, "0x" + payload.hex(), TOKEN_GAS
        nonce = self._allocate_nonce(session, intent.from_address)
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to_checksum_address(to),
            "value": value,
            "data": data,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
        }
        raw = signer.sign_evm(session, intent, tx)
        return SignedTransfer(
            txid="0x" + keccak(raw).hex(),
            raw="0x" + raw.hex(),
            nonce=nonce,
            fee_minor=gas * max_fee,
        )

    def broadcast(self, signed: SignedTransfer) -> None:
        try:
            self._rpc("eth_sendRawTransaction", [signed.raw])
        except ChainError as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text:
                return
            if "nonce too low" in text and self._receipt(signed.txid) is not None:
                return  # our own transaction already mined
            raise

    def _receipt(self, txid: str) -> dict[str, Any] | None:
        receipt: dict[str, Any] | None = self._rpc("eth_getTransactionReceipt", [txid])
        return receipt

    def tx_status(self, signed: SignedTransfer) -> TxStatus:
        receipt = self._receipt(signed.txid)
        if receipt is not None and receipt.get("blockNumber") is not None:
            number = _int(receipt["blockNumber"])
            if self.block_hash(number) == receipt["blockHash"]:
                confirmations = self.head().height - number + 1
                state = TxState.CONFIRMED if _int(receipt["status"]) == 1 else TxState.FAILED
                return TxStatus(state, number, confirmations)
        known = self._rpc("eth_getTransactionByHash", [signed.txid])
        if known is not None:
            return TxStatus(TxState.PENDING)
        if signed.nonce is not None:
            sender = self._sender(signed)
            mined_nonce = _int(self._rpc("eth_getTransactionCount", [sender, "latest"]))
            if mined_nonce > signed.nonce:
                return TxStatus(TxState.DROPPED)  # the nonce went to another transaction
        return TxStatus(TxState.UNKNOWN)

    def fee_paid(self, signed: SignedTransfer, native_out: int = 0) -> int:
        """Gas used × effective gas price, from the receipt (reverted transactions pay too)."""
        receipt = self._receipt(signed.txid)
        if receipt is None:
            raise ChainError(f"no receipt for {signed.txid}: the fee is not known yet")
        return _int(receipt["gasUsed"]) * _int(receipt["effectiveGasPrice"])

    @staticmethod
    def _sender(signed: SignedTransfer) -> str:
        from eth_account import Account

        return str(Account.recover_transaction(signed.raw))

    # -- scanning --------------------------------------------------------------

    def _logs(self, start: int, end: int, contracts: list[str] | None) -> list[dict[str, Any]]:
        logs: list[dict[str, Any]] = []
        for lo in range(start, end + 1, self.log_chunk):
            hi = min(end, lo + self.log_chunk - 1)
            query: dict[str, Any] = {
                "fromBlock": hex(lo),
                "toBlock": hex(hi),
                "topics": [TRANSFER_TOPIC],
            }
            if contracts is not None:
                query["address"] = contracts
            logs.extend(self._rpc("eth_getLogs", [query]) or [])
        return logs

    def scan(self, start: int, end: int, watched: AbstractSet[str]) -> ScanResult:
        from eth_utils import to_checksum_address

        if end < start:
            return ScanResult([], [])
        contracts = list(self.tokens.values())
        token_logs = self._logs(start, end, contracts) if contracts else []
        blocks: list[dict[str, Any]] = []
        heights = list(range(start, end + 1))
        for i in range(0, len(heights), self.block_batch):
            chunk = heights[i : i + self.block_batch]
            blocks.extend(self._batch([("eth_getBlockByNumber", [hex(h), True]) for h in chunk]))
        if any(b is None for b in blocks):
            raise ChainError("a block in the scan range vanished: reorg in progress, rescan")
        hashes = {_int(b["number"]): str(b["hash"]) for b in blocks}
        observations: list[Observation] = []
        receipts: dict[str, dict[str, Any]] = {}

        def receipt(txid: str) -> dict[str, Any]:
            if txid not in receipts:
                found = self._receipt(txid)
                if found is None:
                    raise ChainError("receipt missing for a scanned transaction: rescan")
                receipts[txid] = found
            return receipts[txid]

        for entry in token_logs:
            if len(entry.get("topics", [])) != 3 or entry.get("removed"):
                continue
            to = _addr_topic(entry["topics"][2])
            if to not in watched:
                continue
            height = _int(entry["blockNumber"])
            if hashes.get(height) != entry["blockHash"]:
                raise ChainError("logs and blocks disagree: reorg in progress, rescan")
            rec = receipt(entry["transactionHash"])
            position = next(
                (n for n, lg in enumerate(rec["logs"]) if lg["logIndex"] == entry["logIndex"]),
                None,
            )
            if position is None:
                raise ChainError("log not found in its receipt: rescan")
            amount = _int(entry["data"]) if entry["data"] not in ("0x", "") else 0
            if amount <= 0:
                continue
            observations.append(
                Observation(
                    chain=self.chain.value,
                    txid=entry["transactionHash"],
                    idx=1 + position,
                    asset=self._by_contract[entry["address"].lower()],
                    address=to_checksum_address(to),
                    amount_minor=amount,
                    block_number=height,
                    block_hash=entry["blockHash"],
                    status=ObservationStatus.SUCCESS,
                )
            )
        for block in blocks:
            for tx in block.get("transactions", []):
                to = (tx.get("to") or "").lower()
                value = _int(tx.get("value", "0x0"))
                if not to or to not in watched or value <= 0:
                    continue
                ok = _int(receipt(tx["hash"])["status"]) == 1
                observations.append(
                    Observation(
                        chain=self.chain.value,
                        txid=tx["hash"],
                        idx=0,
                        asset="ETH",
                        address=to_checksum_address(to),
                        amount_minor=value,
                        block_number=_int(block["number"]),
                        block_hash=str(block["hash"]),
                        status=ObservationStatus.SUCCESS if ok else ObservationStatus.REVERTED,
                    )
                )
        events = self._spoofs(start, end, watched) if self.watch_spoofs else []
        refs = [BlockRef(h, hashes[h]) for h in heights]
        return ScanResult(observations, refs, events)

    def _spoofs(
        self, start: int, end: int, watched: AbstractSet[str]
    ) -> list[tuple[str, dict[str, str]]]:
        """Transfer logs to our addresses from contracts outside the allowlist."""
        events = []
        for entry in self._logs(start, end, None):
            if entry["address"].lower() in self._by_contract or len(entry.get("topics", [])) != 3:
                continue
            to = _addr_topic(entry["topics"][2])
            if to in watched:
                events.append(
                    (
                        "token_wrong_contract",
                        {
                            "chain": self.chain.value,
                            "txid": str(entry["transactionHash"]),
                            "contract": str(entry["address"]),
                            "address": to,
                            "amount_minor": str(_int(entry["data"] or "0x0")),
                        },
                    )
                )
        return events

    # -- credit verification ----------------------------------------------------

    def verify_credit(self, observation: Observation) -> CreditCheck:
        """Receipt succeeded, in the observed block, and (tokens) our balance moved by it."""
        rec = self._receipt(observation.txid)
        if rec is None or rec.get("blockHash") != observation.block_hash:
            return CreditCheck(0, "not_in_observed_block")
        if _int(rec["status"]) != 1:
            return CreditCheck(0, "reverted")
        if observation.idx == 0:
            tx = self._rpc("eth_getTransactionByHash", [observation.txid])
            if (tx.get("to") or "").lower() != observation.address.lower() or _int(
                tx["value"]
            ) != observation.amount_minor:
                return CreditCheck(0, "native_mismatch")
            return CreditCheck(observation.amount_minor)
        contract = self.tokens.get(observation.asset)
        logs = rec["logs"]
        if observation.idx - 1 >= len(logs):
            return CreditCheck(0, "log_missing")
        entry = logs[observation.idx - 1]
        if contract is None or entry["address"].lower() != contract.lower():
            return CreditCheck(0, "token_wrong_contract", {"contract": entry["address"]})
        if (
            entry["topics"][0] != TRANSFER_TOPIC
            or _addr_topic(entry["topics"][2]) != observation.address.lower()
            or _int(entry["data"]) != observation.amount_minor
        ):
            return CreditCheck(0, "log_mismatch")
        height = observation.block_number or 0
        # Every allowlisted Transfer of this token to this address in this block.
        same_block = self._rpc(
            "eth_getLogs",
            [
                {
                    "blockHash": observation.block_hash,
                    "address": contract,
                    "topics": [
                        TRANSFER_TOPIC,
                        None,
                        "0x" + "0" * 24 + observation.address.lower()[2:],
                    ],
                }
            ],
        )
        logged_in = sum(_int(lg["data"]) for lg in same_block)
        logged_out = sum(
            _int(lg["data"])
            for lg in self._rpc(
                "eth_getLogs",
                [
                    {
                        "blockHash": observation.block_hash,
                        "address": contract,
                        "topics": [
                            TRANSFER_TOPIC,
                            "0x" + "0" * 24 + observation.address.lower()[2:],
                        ],
                    }
                ],
            )
        )
        before = self.balance(observation.address, observation.asset, height - 1)
        after = self.balance(observation.address, observation.asset, height)
        arrived = after - before + logged_out
        if arrived == logged_in:
            return CreditCheck(observation.amount_minor)
        if len(same_block) == 1 and 0 < arrived < observation.amount_minor:
            return CreditCheck(arrived, "balance_short", {"logged": str(logged_in)})
        return CreditCheck(
            0, "balance_mismatch", {"logged": str(logged_in), "arrived": str(arrived)}
        )

    def close(self) -> None:
        """Nothing to release: the HTTP session belongs to whoever passed it."""
