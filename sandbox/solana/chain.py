"""The sandbox ledger: LiteSVM account state plus the slots, blocks and commitment it lacks.

LiteSVM executes transactions but has no clock, blocks or confirmations.
:class:`Chain` adds them: a clock thread produces one block per slot
(``slot_ms``); a transaction executes the moment it is received and lands in
the current head slot; ``processed`` is the head, ``confirmed`` and
``finalized`` lag it by ``confirm_depth`` / ``finalize_depth`` blocks.
Blockhashes are derived from (seed, slot) and are valid for
``blockhash_validity`` blocks, checked here (LiteSVM's own check only knows
one blockhash). Skipped slots are gaps between produced blocks; block height
counts produced blocks only, as on mainnet.

Account state exists only at the head (LiteSVM cannot roll back), but every
state change goes through a recorded transaction, so balances at an older
commitment are recovered from the recorded pre-balances (``lamports_at``,
``token_amount_at``).

Memory: per produced block one slot number and one timestamp; per
transaction one record. Empty blocks are not stored.
"""

from __future__ import annotations

import hashlib
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTable
from solders.clock import Clock
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import (
    FailedTransactionMetadata,
    InnerInstruction,
    SimulatedTransactionInfo,
)

from sandbox.solana.codec import err_json, parse_mint, parse_token_account

COMMITMENTS = ("processed", "confirmed", "finalized")
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
SLOTS_PER_EPOCH = 432_000


@dataclass(frozen=True)
class ChainConfig:
    seed: int = 0
    slot_ms: int = 400
    confirm_depth: int = 1
    finalize_depth: int = 32
    blockhash_validity: int = 150  # MAX_PROCESSING_AGE on mainnet


class TxRejected(Exception):
    """A transaction that cannot land (preflight failure, bad blockhash, duplicate)."""

    def __init__(self, err: Any, logs: list[str] | None = None, units: int = 0) -> None:
        super().__init__(str(err))
        self.err = err
        self.logs = logs or []
        self.units = units


@dataclass(frozen=True)
class TokenBalance:
    account_index: int
    mint: str
    owner: str
    program_id: str
    amount: int
    decimals: int


@dataclass
class TxRecord:
    """One transaction as landed in a block, with everything getTransaction reports."""

    signature: str
    tx: VersionedTransaction
    slot: int
    block_time: int
    keys: list[Pubkey]  # static keys, then loaded writable, then loaded readonly
    loaded_writable: list[Pubkey]
    loaded_readonly: list[Pubkey]
    err: Any
    fee: int
    logs: list[str]
    inner: list[list[InnerInstruction]]
    units: int
    pre_balances: list[int]
    post_balances: list[int]
    pre_tokens: list[TokenBalance] = field(default_factory=list)
    post_tokens: list[TokenBalance] = field(default_factory=list)

    def index_of(self, key: Pubkey) -> int:
        return self.keys.index(key)


@dataclass(frozen=True)
class BlockInfo:
    slot: int
    height: int
    parent_slot: int
    blockhash: str
    previous_blockhash: str
    block_time: int
    txs: list[TxRecord]


class Chain:
    """Thread-safe ledger; every public method takes the lock."""

    def __init__(self, config: ChainConfig, skip_source: Callable[[], int] | None = None) -> None:
        self.config = config
        # Signatures and blockhash age are verified here, per the RPC node's
        # rules; LiteSVM's checks only know a single "latest" blockhash.
        self.svm = LiteSVM().with_sigverify(False).with_blockhash_check(False)
        self._skip_source = skip_source or (lambda: 0)
        self._lock = threading.RLock()
        self._block_slots = array("Q", [0])
        self._block_times = array("q", [int(time.time())])
        self._recent: dict[str, int] = {str(self.blockhash(0)): 0}
        self._recent_order: deque[tuple[int, str]] = deque([(0, str(self.blockhash(0)))])
        self._txs: dict[str, TxRecord] = {}
        self._by_slot: dict[int, list[TxRecord]] = {}
        self._by_address: dict[Pubkey, list[TxRecord]] = {}
        self._decimals: dict[Pubkey, int] = {}
        self._clock_slot = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- clock ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="solana-slot-clock", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.config.slot_ms / 1000):
            self.produce_block()

    def produce_block(self, skip: int | None = None) -> int:
        """Advance the head to a new block ``skip`` slots later (default: the fault source)."""
        with self._lock:
            gap = self._skip_source() if skip is None else skip
            slot = self._block_slots[-1] + 1 + max(0, gap)
            self._block_slots.append(slot)
            self._block_times.append(int(time.time()))
            height = len(self._block_slots) - 1
            blockhash = str(self.blockhash(slot))
            self._recent[blockhash] = height
            self._recent_order.append((height, blockhash))
            # Keep hashes a little past expiry so late senders still get BlockhashNotFound by age.
            while self._recent_order[0][0] < height - 2 * self.config.blockhash_validity:
                _, old = self._recent_order.popleft()
                self._recent.pop(old, None)
            return slot

    # -- heights, slots, commitment -------------------------------------------

    def blockhash(self, slot: int) -> Hash:
        seed = f"taskforce-sandbox-solana:{self.config.seed}:{slot}".encode()
        return Hash(hashlib.sha256(seed).digest())

    def _depth(self, commitment: str) -> int:
        if commitment == "finalized":
            return self.config.finalize_depth
        return self.config.confirm_depth if commitment == "confirmed" else 0

    def height(self, commitment: str = "processed") -> int:
        with self._lock:
            return max(0, len(self._block_slots) - 1 - self._depth(commitment))

    def slot(self, commitment: str = "processed") -> int:
        with self._lock:
            return int(self._block_slots[self.height(commitment)])

    def height_of_slot(self, slot: int) -> int | None:
        """Block height of the block at ``slot``; None if skipped or in the future."""
        with self._lock:
            i = bisect_left(self._block_slots, slot)
            return i if i < len(self._block_slots) and self._block_slots[i] == slot else None

    def status(self, record: TxRecord) -> tuple[str, int | None]:
        """(confirmationStatus, confirmations) of a landed transaction."""
        with self._lock:
            height = self.height_of_slot(record.slot) or 0
            if height <= self.height("finalized"):
                return "finalized", None
            behind = len(self._block_slots) - 1 - height
            return ("confirmed" if height <= self.height("confirmed") else "processed"), behind

    def latest_blockhash(self, commitment: str) -> tuple[Hash, int, int]:
        """(blockhash, lastValidBlockHeight, context slot) at ``commitment``."""
        with self._lock:
            height = self.height(commitment)
            slot = int(self._block_slots[height])
            return self.blockhash(slot), height + self.config.blockhash_validity, slot

    def blockhash_valid(self, blockhash: str) -> bool:
        with self._lock:
            height = self._recent.get(blockhash)
            return height is not None and self.height() <= height + self.config.blockhash_validity

    def blocks(self, start: int, end: int) -> list[int]:
        with self._lock:
            lo = bisect_left(self._block_slots, start)
            hi = bisect_right(self._block_slots, end)
            return [int(s) for s in self._block_slots[lo:hi]]

    def block(self, slot: int) -> BlockInfo | None:
        with self._lock:
            height = self.height_of_slot(slot)
            if height is None:
                return None
            parent = int(self._block_slots[max(0, height - 1)])
            return BlockInfo(
                slot=slot,
                height=height,
                parent_slot=parent,
                blockhash=str(self.blockhash(slot)),
                previous_blockhash=str(self.blockhash(parent)),
                block_time=int(self._block_times[height]),
                txs=list(self._by_slot.get(slot, [])),
            )

    def block_time(self, slot: int) -> int | None:
        with self._lock:
            height = self.height_of_slot(slot)
            return None if height is None else int(self._block_times[height])

    def transaction_count(self) -> int:
        with self._lock:
            return len(self._txs)

    # -- records --------------------------------------------------------------

    def record(self, signature: str) -> TxRecord | None:
        with self._lock:
            return self._txs.get(signature)

    def records_for(self, address: Pubkey) -> list[TxRecord]:
        """Landed transactions touching ``address``, oldest first."""
        with self._lock:
            return list(self._by_address.get(address, []))

    # -- accounts -------------------------------------------------------------

    def account(self, address: Pubkey) -> Account | None:
        with self._lock:
            return self.svm.get_account(address)

    def accounts_of(self, program: Pubkey) -> list[tuple[Pubkey, Account]]:
        with self._lock:
            return list(self.svm.get_program_accounts(program))

    def rent_exempt_minimum(self, size: int) -> int:
        with self._lock:
            return int(self.svm.minimum_balance_for_rent_exemption(size))

    def decimals(self, mint: Pubkey) -> int | None:
        with self._lock:
            if mint not in self._decimals:
                account = self.svm.get_account(mint)
                state = parse_mint(account) if account is not None else None
                if state is None:
                    return None
                self._decimals[mint] = state.decimals
            return self._decimals[mint]

    def _later(self, address: Pubkey, commitment: str) -> TxRecord | None:
        """The earliest recorded transaction touching ``address`` after the ``commitment`` slot."""
        cutoff = self.slot(commitment)
        first = None
        for record in reversed(self._by_address.get(address, [])):
            if record.slot <= cutoff:
                break
            first = record
        return first

    def lamports_at(self, address: Pubkey, commitment: str) -> int:
        with self._lock:
            later = self._later(address, commitment)
            if later is not None:
                return later.pre_balances[later.index_of(address)]
            return self.svm.get_balance(address) or 0

    def token_amount_at(self, address: Pubkey, commitment: str) -> int | None:
        """Token amount of a token account at ``commitment``; None if it was not one then."""
        with self._lock:
            later = self._later(address, commitment)
            if later is not None:
                index = later.index_of(address)
                found = [b.amount for b in later.pre_tokens if b.account_index == index]
                return found[0] if found else None
            account = self.svm.get_account(address)
            state = parse_token_account(account) if account is not None else None
            return None if state is None else state.amount

    def genesis_credit(self, address: Pubkey, lamports: int) -> None:
        """Credit lamports before the first block (the genesis allocation of the faucet)."""
        with self._lock:
            current = self.svm.get_balance(address) or 0
            self.svm.set_account(
                address, Account(current + lamports, b"", SYSTEM_PROGRAM, False, 0)
            )

    # -- transactions ---------------------------------------------------------

    def loaded_addresses(self, tx: VersionedTransaction) -> tuple[list[Pubkey], list[Pubkey]]:
        """Resolve a v0 transaction's address-table lookups (writable, readonly)."""
        message = tx.message
        if not isinstance(message, MessageV0):
            return [], []
        writable: list[Pubkey] = []
        readonly: list[Pubkey] = []
        with self._lock:
            for lookup in message.address_table_lookups:
                account = self.svm.get_account(lookup.account_key)
                if account is None:
                    raise TxRejected("AddressLookupTableNotFound")
                addresses = AddressLookupTable.deserialize(bytes(account.data)).addresses
                try:
                    writable += [addresses[i] for i in bytes(lookup.writable_indexes)]
                    readonly += [addresses[i] for i in bytes(lookup.readonly_indexes)]
                except IndexError:
                    raise TxRejected("InvalidAddressLookupTableIndex") from None
        return writable, readonly

    def check(self, tx: VersionedTransaction, *, verify_signatures: bool = True) -> None:
        """The node's admission checks; raises :class:`TxRejected`."""
        with self._lock:
            if verify_signatures and not all(tx.verify_with_results()):
                raise TxRejected("SignatureFailure")
            if str(tx.signatures[0]) in self._txs:
                raise TxRejected("AlreadyProcessed")
            if not self.blockhash_valid(str(tx.message.recent_blockhash)):
                raise TxRejected("BlockhashNotFound")

    def simulate(
        self, tx: VersionedTransaction
    ) -> SimulatedTransactionInfo | FailedTransactionMetadata:
        with self._lock:
            self._sync_clock()
            return self.svm.simulate_transaction(tx)

    def execute(self, tx: VersionedTransaction) -> TxRecord | None:
        """Execute in the head slot; None if it could not even pay its fee (not included)."""
        with self._lock:
            writable, readonly = self.loaded_addresses(tx)
            keys = list(tx.message.account_keys) + writable + readonly
            pre = [self.svm.get_balance(k) or 0 for k in keys]
            pre_tokens = self._token_balances(keys)
            self._sync_clock()
            result = self.svm.send_transaction(tx)
            signature = tx.signatures[0]
            if self.svm.get_transaction(signature) is None:
                return None
            meta = result.meta() if isinstance(result, FailedTransactionMetadata) else result
            record = TxRecord(
                signature=str(signature),
                tx=tx,
                slot=int(self._block_slots[-1]),
                block_time=int(self._block_times[-1]),
                keys=keys,
                loaded_writable=writable,
                loaded_readonly=readonly,
                err=err_json(result.err())
                if isinstance(result, FailedTransactionMetadata)
                else None,
                fee=meta.fee(),
                logs=list(meta.logs()),
                inner=[list(group) for group in meta.inner_instructions()],
                units=meta.compute_units_consumed(),
                pre_balances=pre,
                post_balances=[self.svm.get_balance(k) or 0 for k in keys],
                pre_tokens=pre_tokens,
                post_tokens=self._token_balances(keys),
            )
            self._txs[record.signature] = record
            self._by_slot.setdefault(record.slot, []).append(record)
            for key in dict.fromkeys(keys):
                self._by_address.setdefault(key, []).append(record)
            return record

    def submit(
        self, tx: VersionedTransaction, *, preflight: bool, drop: Callable[[], bool] | None = None
    ) -> TxRecord | None:
        """sendTransaction's path: admission checks, preflight simulation, execution.

        Returns the landed record, or None for a transaction the node accepted
        but that will never land (skipPreflight with a bad signature, stale
        blockhash or unpayable fee, or an injected drop). With ``preflight``
        every such failure raises :class:`TxRejected` instead.
        """
        with self._lock:
            try:
                self.check(tx)
            except TxRejected:
                if preflight:
                    raise
                return None
            if preflight:
                sim = self.simulate(tx)
                if isinstance(sim, FailedTransactionMetadata):
                    meta = sim.meta()
                    raise TxRejected(
                        err_json(sim.err()), list(meta.logs()), meta.compute_units_consumed()
                    )
            if drop is not None and drop():
                return None
            return self.execute(tx)

    def _sync_clock(self) -> None:
        """Programs read the Clock sysvar; keep it on the head slot and wall time."""
        slot = int(self._block_slots[-1])
        if slot != self._clock_slot:
            epoch = slot // SLOTS_PER_EPOCH
            self.svm.set_clock(
                Clock(slot, int(self._block_times[0]), epoch, epoch + 1, int(time.time()))
            )
            self._clock_slot = slot

    def _token_balances(self, keys: list[Pubkey]) -> list[TokenBalance]:
        balances = []
        for index, key in enumerate(keys):
            account = self.svm.get_account(key)
            state = parse_token_account(account) if account is not None else None
            if state is None or account is None:
                continue
            decimals = self.decimals(state.mint)
            balances.append(
                TokenBalance(
                    index,
                    str(state.mint),
                    str(state.owner),
                    str(account.owner),
                    state.amount,
                    decimals or 0,
                )
            )
        return balances
