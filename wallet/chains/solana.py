"""Solana adapter over solana-py's ``AsyncClient`` and solders, exposed synchronously.

Callers are synchronous (Dagster ops, Flask views), so the async client
lives on a private event loop in one daemon thread and every call is
``run_coroutine_threadsafe(...).result()``.

Heights are *slots*; ``head`` is the ``confirmed`` slot (``getBlock`` needs
at least ``confirmed``). The deposit rule's default (32) is the finalized
depth; the sandbox runs with a shorter one.

Scanning: one ``getBlock`` per slot (skipped slots cost one error reply),
and credits follow the block's own balance deltas (``meta.pre/postBalances``
and ``pre/postTokenBalances``, owner and mint): what arrived on a watched
address, not what an instruction claimed. Cost grows with slots only.

Sends: recent blockhash + ``lastValidBlockHeight`` are captured when
signing and stored with the broadcast record. A retry before expiry
re-sends the same signed bytes (same signature); once the ``confirmed``
block height passes ``lastValidBlockHeight`` and the signature is unknown,
the transaction is definitively dropped.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections.abc import Coroutine, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar

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
from wallet.custody.errors import ChainError
from wallet.custody.signer import Signer

log = logging.getLogger(__name__)
T = TypeVar("T")
TOKEN_IDX_BASE = 1000
SIGNATURE_FEE = 5_000  # lamports per signature
ATA_RENT = 2_039_280  # lamports: rent-exempt minimum of a token account


class _NoBlock(ChainError):
    """The node says a slot has no block: skipped, or not (yet, or any longer) available."""


class _NoAccount(ChainError):
    """The node says the account does not exist (a token account not opened yet)."""


def _no_account(error: object) -> bool:
    from solders.rpc import errors

    return isinstance(error, errors.InvalidParamsMessage) and "could not find account" in str(
        error.message
    )


def _no_block(error: object) -> bool:
    from solders.rpc import errors

    return isinstance(
        error,
        (
            errors.SlotSkippedMessage,
            errors.LongTermStorageSlotSkippedMessage,
            errors.BlockNotAvailableMessage,
            errors.BlockStatusNotAvailableYetMessage,
        ),
    )


class _Loop:
    """A private event loop in a daemon thread, for a sync facade over async I/O."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class SolanaAdapter:
    """Solana over JSON-RPC; ``tokens`` maps allowlisted symbols to mint addresses."""

    chain = Chain.SOLANA

    def __init__(self, url: str, tokens: Mapping[str, str], *, timeout_s: float = 15.0) -> None:
        from solana.rpc.async_api import AsyncClient
        from solana.rpc.commitment import Confirmed

        self._timeout = timeout_s
        self._loop = _Loop()

        async def make() -> AsyncClient:
            return AsyncClient(url, commitment=Confirmed, timeout=timeout_s)

        self.client = self._loop.run(make(), timeout_s)
        self.tokens = dict(tokens)
        self._by_mint = {mint: sym for sym, mint in self.tokens.items()}

    def __repr__(self) -> str:
        return "SolanaAdapter()"

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        from solana.rpc.core import RPCException

        try:
            return self._loop.run(coro, self._timeout)
        except ChainError:
            raise
        except Exception as exc:
            answer = exc.args[0] if isinstance(exc, RPCException) and exc.args else None
            if _no_block(answer):
                raise _NoBlock(str(exc)) from None
            if _no_account(answer):
                raise _NoAccount(str(exc)) from None
            raise ChainError(f"solana rpc failed: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self._loop.run(self.client.close(), self._timeout)
        self._loop.stop()

    def normalise(self, address: str) -> str:
        return address

    # -- reads -----------------------------------------------------------------

    def head(self) -> BlockRef:
        slot = self._run(self.client.get_slot()).value
        for candidate in range(slot, -1, -1):  # the head slot itself may be skipped
            found = self.block_hash(candidate)
            if found is not None:
                return BlockRef(candidate, found)
        raise ChainError("no block at or below the confirmed slot")

    def block_hash(self, height: int) -> str | None:
        """None for a slot with no block (skipped, not yet confirmed, past the head).

        Only the node's own "no block" answers are None: a node that cannot be
        reached raises, so a blip is never read as a block gone.
        """
        from solders.transaction_status import TransactionDetails

        try:
            block = self._run(
                self.client.get_block(
                    height, transaction_details=TransactionDetails.None_, rewards=False
                )
            )
        except _NoBlock:
            return None
        return str(block.value.blockhash)

    def block_hashes(self, heights: Sequence[int]) -> dict[int, str | None]:
        """One ``getBlock`` per slot: solana-py has no batch call."""
        return {height: self.block_hash(height) for height in sorted(set(heights))}

    def block_height(self) -> int:
        return int(self._run(self.client.get_block_height()).value)

    def balance(self, address: str, asset: str) -> int:
        from solders.pubkey import Pubkey
        from solders.token.associated import get_associated_token_address

        owner = Pubkey.from_string(address)
        if asset not in self.tokens:
            if get_asset(asset).is_native:
                return int(self._run(self.client.get_balance(owner)).value)
            raise ChainError(f"{asset} has no configured mint")
        ata = get_associated_token_address(owner, Pubkey.from_string(self.tokens[asset]))
        try:
            reply = self._run(self.client.get_token_account_balance(ata))
        except _NoAccount:
            return 0  # no token account yet: nothing received (a node blip raises)
        return int(reply.value.amount)

    def estimate_fee(self, asset: str) -> int:
        """One signature, plus the recipient's token account rent when it may not exist."""
        return SIGNATURE_FEE + (0 if get_asset(asset).is_native else ATA_RENT)

    # -- sends -----------------------------------------------------------------

    def _instructions(self, intent: TransferIntent) -> list[Any]:
        from solders.pubkey import Pubkey
        from solders.system_program import TransferParams, transfer
        from solders.token.associated import get_associated_token_address
        from spl.token.constants import TOKEN_PROGRAM_ID
        from spl.token.instructions import (
            create_idempotent_associated_token_account,
            transfer_checked,
        )
        from spl.token.models import TransferCheckedParams

        source = Pubkey.from_string(intent.from_address)
        dest = Pubkey.from_string(intent.to_address)
        if intent.asset not in self.tokens:
            return [
                transfer(
                    TransferParams(from_pubkey=source, to_pubkey=dest, lamports=intent.amount_minor)
                )
            ]
        mint = Pubkey.from_string(self.tokens[intent.asset])
        return [
            create_idempotent_associated_token_account(source, dest, mint),
            transfer_checked(
                TransferCheckedParams(
                    program_id=TOKEN_PROGRAM_ID,
                    source=get_associated_token_address(source, mint),
                    mint=mint,
                    dest=get_associated_token_address(dest, mint),
                    owner=source,
                    amount=intent.amount_minor,
                    decimals=get_asset(intent.asset).decimals,
                )
            ),
        ]

    def build_and_sign(
        self, session: Session, intent: TransferIntent, signer: Signer
    ) -> SignedTransfer:
        from solders.message import Message
        from solders.pubkey import Pubkey

        latest = self._run(self.client.get_latest_blockhash()).value
        message = Message.new_with_blockhash(
            self._instructions(intent), Pubkey.from_string(intent.from_address), latest.blockhash
        )
        tx = signer.sign_solana(session, intent, message, latest.blockhash)
        return SignedTransfer(
            txid=str(tx.signatures[0]),
            raw=base64.b64encode(bytes(tx)).decode(),
            last_valid_height=int(latest.last_valid_block_height),
            fee_minor=SIGNATURE_FEE * len(tx.signatures),
        )

    def broadcast(self, signed: SignedTransfer) -> None:
        from solana.rpc.models import TxOpts

        try:
            self._run(
                self.client.send_raw_transaction(
                    base64.b64decode(signed.raw), opts=TxOpts(skip_confirmation=True)
                )
            )
        except ChainError as exc:
            if "AlreadyProcessed" in str(exc) or "already been processed" in str(exc):
                return
            raise

    def tx_status(self, signed: SignedTransfer) -> TxStatus:
        from solders.signature import Signature
        from solders.transaction_status import TransactionConfirmationStatus

        reply = self._run(
            self.client.get_signature_statuses(
                [Signature.from_string(signed.txid)], search_transaction_history=True
            )
        )
        status = reply.value[0]
        if status is None:
            if (
                signed.last_valid_height is not None
                and self.block_height() > signed.last_valid_height
            ):
                return TxStatus(TxState.DROPPED)
            return TxStatus(TxState.UNKNOWN)
        if status.err is not None:
            return TxStatus(TxState.FAILED, status.slot)
        if status.confirmation_status in (
            TransactionConfirmationStatus.Confirmed,
            TransactionConfirmationStatus.Finalized,
        ):
            head = self._run(self.client.get_slot()).value
            return TxStatus(TxState.CONFIRMED, status.slot, head - status.slot + 1)
        return TxStatus(TxState.PENDING, status.slot)

    def fee_paid(self, signed: SignedTransfer, native_out: int = 0) -> int:
        """What the fee payer lost beyond ``native_out``: the fee plus rent of created accounts."""
        from solders.signature import Signature

        reply = self._run(
            self.client.get_transaction(
                Signature.from_string(signed.txid), max_supported_transaction_version=0
            )
        ).value
        if reply is None or reply.transaction.meta is None:
            raise ChainError(f"transaction {signed.txid} is not known yet: the fee is not known")
        meta = reply.transaction.meta
        return int(meta.pre_balances[0]) - int(meta.post_balances[0]) - native_out

    def rent_exempt_minimum(self, size: int = 0) -> int:
        """Lamports an account of ``size`` data bytes must keep (a fee payer has 0 bytes)."""
        return int(self._run(self.client.get_minimum_balance_for_rent_exemption(size)).value)

    # -- scanning --------------------------------------------------------------

    def _block(self, slot: int) -> Any | None:
        try:
            return self._run(
                self.client.get_block(
                    slot, encoding="json", max_supported_transaction_version=0, rewards=False
                )
            ).value
        except ChainError as exc:
            if "skipped" in str(exc).lower() or "-32007" in str(exc):
                return None
            raise

    def _deltas(
        self, keys: list[str], meta: Any, watched: AbstractSet[str]
    ) -> list[tuple[int, str, str, int]]:
        """(idx, asset, owner, amount>0) credited to watched owners by one transaction."""
        out = []
        for i, key in enumerate(keys):
            if key in watched:
                delta = int(meta.post_balances[i]) - int(meta.pre_balances[i])
                if delta > 0:
                    out.append((i, "SOL", key, delta))
        pre = {b.account_index: b for b in meta.pre_token_balances or []}
        for post in meta.post_token_balances or []:
            owner = str(post.owner) if post.owner is not None else None
            asset = self._by_mint.get(str(post.mint))
            if owner is None or owner not in watched or asset is None:
                continue
            before = pre.get(post.account_index)
            if before is not None and str(before.mint) != str(post.mint):
                continue
            delta = int(post.ui_token_amount.amount) - (
                int(before.ui_token_amount.amount) if before is not None else 0
            )
            if delta > 0:
                out.append((TOKEN_IDX_BASE + post.account_index, asset, owner, delta))
        return out

    @staticmethod
    def _keys(tx: Any, meta: Any) -> list[str]:
        keys = [str(k) for k in tx.transaction.message.account_keys]
        loaded = meta.loaded_addresses
        if loaded is not None:
            keys += [str(k) for k in loaded.writable] + [str(k) for k in loaded.readonly]
        return keys

    def scan(self, start: int, end: int, watched: AbstractSet[str]) -> ScanResult:
        observations: list[Observation] = []
        blocks: list[BlockRef] = []
        for slot in range(start, end + 1):
            block = self._block(slot)
            if block is None:
                continue
            blockhash = str(block.blockhash)
            blocks.append(BlockRef(slot, blockhash))
            for tx in block.transactions:
                meta = tx.meta
                if meta is None or meta.err is not None:
                    continue  # a failed transaction moves only its fee
                txid = str(tx.transaction.signatures[0])
                for idx, asset, owner, amount in self._deltas(self._keys(tx, meta), meta, watched):
                    observations.append(
                        Observation(
                            self.chain.value, txid, idx, asset, owner, amount, slot, blockhash,
                            ObservationStatus.SUCCESS,
                        )
                    )  # fmt: skip
        return ScanResult(observations, blocks)

    def verify_credit(self, observation: Observation) -> CreditCheck:
        """Re-read the transaction: same slot, no error, the same positive delta."""
        from solders.signature import Signature

        reply = self._run(
            self.client.get_transaction(
                Signature.from_string(observation.txid), max_supported_transaction_version=0
            )
        ).value
        if reply is None or reply.slot != observation.block_number:
            return CreditCheck(0, "not_in_observed_block")
        tx = reply.transaction
        meta = tx.meta
        if meta is None or meta.err is not None:
            return CreditCheck(0, "reverted")
        found = {
            idx: (asset, amount)
            for idx, asset, _owner, amount in self._deltas(
                self._keys(tx, meta), meta, {observation.address}
            )
        }
        if found.get(observation.idx, ("", 0))[0] != observation.asset:
            return CreditCheck(0, "balance_mismatch")
        return CreditCheck(found[observation.idx][1])
