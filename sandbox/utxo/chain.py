"""The node: block tree, active chain, UTXO set, mempool, mining and reorgs.

Design (mirrors Bitcoin Core's validation, radically simplified):
- Blocks form a tree keyed by hash; ``chain`` is the active branch by height.
  The best valid tip is the highest block not marked invalid (first seen
  wins ties). ``invalidateblock``/``reconsiderblock`` flip marks and then
  re-activate the best chain, disconnecting and connecting blocks with
  per-block undo data.
- The UTXO set holds confirmed coins only; mempool transactions may spend
  confirmed coins or outputs of other mempool transactions. ``spenders``
  maps every outpoint spent in the mempool to its spender, which is how
  conflicts are found.
- After a disconnect, the disconnected transactions are re-validated into
  the mempool ahead of the old mempool (Core's DisconnectedBlockTransactions);
  whatever no longer validates (e.g. a spend of a vanished coinbase) is dropped.
- Everything is in memory and guarded by one re-entrant lock; restarting the
  process resets the chain.
"""

from __future__ import annotations

import itertools
import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.utxo.params import COIN, NetworkParams
from sandbox.utxo.script import classify, sha256d
from sandbox.utxo.tx import (
    MAX_MONEY,
    NULL_HASH,
    Header,
    Tx,
    TxIn,
    TxOut,
    hash_hex,
    hex_hash,
    merkle_root,
    solve,
)
from sandbox.utxo.verify import ScriptError, check_inputs

log = logging.getLogger("sandbox.utxo")

MEMPOOL_HEIGHT = 0x7FFFFFFF
REGTEST_BITS = 0x207FFFFF
WITNESS_COMMITMENT_PREFIX = b"\x6a\x24\xaa\x21\xa9\xed"

# RPC error codes (Bitcoin Core src/rpc/protocol.h)
RPC_VERIFY_ERROR = -25
RPC_VERIFY_REJECTED = -26
RPC_VERIFY_ALREADY_IN_CHAIN = -27
RPC_DESERIALIZATION_ERROR = -22


class Rejected(Exception):
    """A transaction the mempool refuses: Core's (RPC code, reject reason, debug message)."""

    def __init__(self, code: int, reason: str, debug: str = "") -> None:
        self.code = code
        self.reason = reason
        self.debug = debug
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.reason}, {self.debug}" if self.debug else self.reason


def fmt_money(value: int) -> str:
    """Core's FormatMoney: 8 decimals with trailing zeros trimmed to two."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 100_000_000)
    text = f"{frac:08d}".rstrip("0")
    return f"{sign}{whole}.{text.ljust(2, '0')}"


def fmt_feerate(per_kvb: int, unit: str) -> str:
    whole, frac = divmod(per_kvb, 100_000_000)
    return f"{whole}.{frac:08d} {unit}"


@dataclass
class Coin:
    value: int
    script: bytes
    height: int
    coinbase: bool


@dataclass
class Block:
    header: Header
    height: int
    txs: list[Tx]
    seq: int  # arrival order, breaks ties between equal-height tips
    undo: list[list[Coin]] = field(default_factory=list)

    @property
    def hash(self) -> str:
        return hash_hex(self.header.hash)

    @property
    def prev(self) -> str:
        return hash_hex(self.header.prev_hash)


@dataclass
class MempoolEntry:
    tx: Tx
    fee: int
    time: int
    height: int
    prevouts: list[Coin]

    @property
    def vsize(self) -> int:
        return self.tx.vsize


@dataclass
class Accepted:
    tx: Tx
    fee: int
    replaced: list[str]


def _script_num_push(n: int) -> bytes:
    """``CScript() << n`` as used for the BIP34 height in coinbase scriptSigs."""
    if n == 0:
        return b"\x00"
    if 1 <= n <= 16:
        return bytes([0x50 + n])
    data = n.to_bytes((n.bit_length() + 8) // 8, "little")
    return bytes([len(data)]) + data


class Node:
    """One regtest chain (Bitcoin or Dogecoin) with its mempool."""

    def __init__(
        self,
        params: NetworkParams,
        *,
        coinbase_maturity: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.params = params
        self.maturity = params.coinbase_maturity if coinbase_maturity is None else coinbase_maturity
        self.clock = clock
        self.lock = threading.RLock()
        self.blocks: dict[str, Block] = {}
        self.chain: list[str] = []
        self.failed: set[str] = set()
        self.utxos: dict[tuple[str, int], Coin] = {}
        self.tx_index: dict[str, tuple[str, int]] = {}
        self.mempool: dict[str, MempoolEntry] = {}
        self.spenders: dict[tuple[str, int], str] = {}
        self._seq = itertools.count()
        self._extranonce = itertools.count(1)
        self._verified: set[tuple[str, tuple[tuple[bytes, int], ...]]] = set()
        self._add_genesis()

    # --- chain queries -----------------------------------------------------

    @property
    def segwit(self) -> bool:
        return self.params.bech32_hrp is not None

    @property
    def height(self) -> int:
        return len(self.chain) - 1

    @property
    def tip(self) -> Block:
        return self.blocks[self.chain[-1]]

    def block_at(self, height: int) -> Block:
        return self.blocks[self.chain[height]]

    def in_active_chain(self, block: Block) -> bool:
        return block.height <= self.height and self.chain[block.height] == block.hash

    def confirmations(self, block: Block) -> int:
        """Core reports -1 for blocks off the active chain."""
        return self.height - block.height + 1 if self.in_active_chain(block) else -1

    def median_time_past(self, block: Block) -> int:
        times: list[int] = []
        current: Block | None = block
        while current is not None and len(times) < 11:
            times.append(current.header.time)
            current = self.blocks.get(current.prev)
        return int(statistics.median_low(sorted(times)))

    def find_tx(self, txid: str) -> tuple[Tx, Block | None] | None:
        """A transaction in the mempool (block None) or the active chain."""
        entry = self.mempool.get(txid)
        if entry is not None:
            return entry.tx, None
        located = self.tx_index.get(txid)
        if located is None:
            return None
        block = self.blocks[located[0]]
        return block.txs[located[1]], block

    def tx_fee(self, block: Block, index: int) -> int | None:
        tx = block.txs[index]
        if tx.is_coinbase or not block.undo:
            return None
        return sum(c.value for c in block.undo[index]) - sum(o.value for o in tx.vout)

    # --- genesis and mining ------------------------------------------------

    def _add_genesis(self) -> None:
        if self.params.name == "bitcoin":
            # Bitcoin's genesis coinbase, so the regtest genesis hash is the real one.
            script_sig = bytes.fromhex(
                "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72"
                "206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73"
            )
            pubkey = bytes.fromhex(
                "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef"
                "38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f"
            )
            value = 50 * COIN
        else:  # Dogecoin's genesis coinbase: the real Dogecoin regtest genesis hash
            script_sig = b"\x04\xff\xff\x00\x1d\x01\x04\x08Nintondo"
            pubkey = bytes.fromhex(
                "040184710fa689ad5023690c80f3a49c8f13f8d45b8c857fbcbc8bc4a8e4d3eb4b10f4d4604fa08d"
                "ce601aaf0f470216fe1b51850b4acf21b179c45070ac7b03a9"
            )
            value = 88 * COIN
        coinbase = Tx(
            1,
            [TxIn(NULL_HASH, 0xFFFFFFFF, script_sig, 0xFFFFFFFF)],
            [TxOut(value, bytes([len(pubkey)]) + pubkey + b"\xac")],
            0,
        )
        merkle = merkle_root([hex_hash(coinbase.txid)])
        header = Header(1, NULL_HASH, merkle, self.params.genesis_time, REGTEST_BITS, 2)
        genesis = Block(header, 0, [coinbase], next(self._seq), undo=[[]])
        # Like Core, the genesis coinbase output is never added to the UTXO set.
        self.blocks[genesis.hash] = genesis
        self.chain.append(genesis.hash)
        self.tx_index[coinbase.txid] = (genesis.hash, 0)

    def _template(self) -> list[MempoolEntry]:
        """Every mempool transaction, parents first (insertion order is topological)."""
        return list(self.mempool.values())

    def _coinbase(self, height: int, script: bytes, value: int, txs: list[Tx]) -> Tx:
        extranonce = next(self._extranonce).to_bytes(4, "little")
        script_sig = _script_num_push(height) + b"\x04" + extranonce
        outputs = [TxOut(value, script)]
        witness: list[bytes] = []
        if self.segwit:
            # BIP141 witness commitment: coinbase wtxid counts as zero.
            wroot = merkle_root([NULL_HASH] + [hex_hash(t.wtxid) for t in txs])
            reserved = NULL_HASH
            outputs.append(TxOut(0, WITNESS_COMMITMENT_PREFIX + sha256d(wroot + reserved)))
            witness = [reserved]
        version = 2 if self.segwit else 1
        return Tx(
            version, [TxIn(NULL_HASH, 0xFFFFFFFF, script_sig, 0xFFFFFFFF, witness)], outputs, 0
        )

    def mine(self, script: bytes, count: int = 1) -> list[str]:
        """Mine ``count`` blocks paying the subsidy and fees to ``script``."""
        hashes = []
        with self.lock:
            for _ in range(count):
                entries = self._template()
                txs = [e.tx for e in entries]
                height = self.height + 1
                value = self.params.subsidy(height) + sum(e.fee for e in entries)
                coinbase = self._coinbase(height, script, value, txs)
                all_txs = [coinbase, *txs]
                tip = self.tip
                header = Header(
                    self.params.block_version,
                    tip.header.hash,
                    merkle_root([hex_hash(t.txid) for t in all_txs]),
                    max(int(self.clock()), self.median_time_past(tip) + 1),
                    REGTEST_BITS,
                    0,
                )
                solve(header, scrypt_pow=not self.segwit)
                block = Block(header, height, all_txs, next(self._seq))
                self.blocks[block.hash] = block
                self._connect(block)
                hashes.append(block.hash)
        return hashes

    # --- connect / disconnect ---------------------------------------------

    def _connect(self, block: Block) -> None:
        undo: list[list[Coin]] = []
        for pos, tx in enumerate(block.txs):
            spent = [] if tx.is_coinbase else [self.utxos.pop(i.outpoint) for i in tx.vin]
            undo.append(spent)
            for n, out in enumerate(tx.vout):
                if out.script[:1] != b"\x6a":  # OP_RETURN outputs are provably unspendable
                    self.utxos[(tx.txid, n)] = Coin(
                        out.value, out.script, block.height, tx.is_coinbase
                    )
            self.tx_index[tx.txid] = (block.hash, pos)
        block.undo = undo
        self.chain.append(block.hash)
        for tx in block.txs[1:]:
            if tx.txid in self.mempool:
                self._remove_entry(tx.txid)
        for tx in block.txs[1:]:
            for txin in tx.vin:
                conflict = self.spenders.get(txin.outpoint)
                if conflict is not None:
                    self._remove_with_descendants(conflict)

    def _disconnect_tip(self) -> Block:
        block = self.blocks[self.chain.pop()]
        for tx, spent in reversed(list(zip(block.txs, block.undo, strict=True))):
            for n in range(len(tx.vout)):
                self.utxos.pop((tx.txid, n), None)
            for txin, coin in zip(tx.vin, spent, strict=False):
                self.utxos[txin.outpoint] = coin
            self.tx_index.pop(tx.txid, None)
        return block

    def _best_tip(self) -> Block:
        """Highest valid block; the current tip keeps ties, otherwise first seen wins."""
        tip = self.tip
        best = None if tip.hash in self.failed else tip
        for block in self.blocks.values():
            if block.hash in self.failed:
                continue
            if (
                best is None
                or block.height > best.height
                or (block.height == best.height and best is not tip and block.seq < best.seq)
            ):
                best = block
        if best is None:  # unreachable: genesis can never be marked failed
            raise RuntimeError("no valid chain tip")
        return best

    def _activate_best_chain(self) -> list[Block]:
        """Switch to the best valid tip; returns the disconnected blocks."""
        best = self._best_tip()
        if best.hash == self.tip.hash:
            return []
        path: list[Block] = []
        cursor = best
        while not self.in_active_chain(cursor):
            path.append(cursor)
            cursor = self.blocks[cursor.prev]
        disconnected = []
        while self.height > cursor.height:
            disconnected.append(self._disconnect_tip())
        for block in reversed(path):
            self._connect(block)
        self._resurrect(disconnected)
        return disconnected

    def _resurrect(self, disconnected: list[Block]) -> None:
        """Re-validate disconnected and mempool transactions into a fresh mempool."""
        if not disconnected:
            return
        old = list(self.mempool.values())
        self.mempool.clear()
        self.spenders.clear()
        candidates: list[tuple[Tx, int | None]] = [
            (tx, None) for b in reversed(disconnected) for tx in b.txs[1:]
        ]
        candidates += [(e.tx, e.time) for e in old]
        for tx, entered in candidates:
            try:
                self.accept(tx, bypass_limits=True, entered=entered)
            except Rejected as exc:
                log.info("dropped %s after reorg: %s", tx.txid, exc.message)

    def descendants_of(self, block_hash: str) -> list[Block]:
        """The block and every known block built on it."""
        found = {block_hash}
        ordered = sorted(self.blocks.values(), key=lambda b: b.height)
        result = [self.blocks[block_hash]]
        for block in ordered:
            if block.prev in found and block.hash not in found:
                found.add(block.hash)
                result.append(block)
        return result

    def invalidate(self, block_hash: str) -> list[Block]:
        """Core ``invalidateblock``: mark the block and descendants invalid, reorg away."""
        with self.lock:
            block = self.blocks[block_hash]
            if block.height == 0:
                raise ValueError("genesis block cannot be invalidated")
            self.failed.update(b.hash for b in self.descendants_of(block_hash))
            return self._activate_best_chain()

    def reconsider(self, block_hash: str) -> list[Block]:
        """Core ``reconsiderblock``: clear invalid marks on it, ancestors and descendants."""
        with self.lock:
            self.failed.difference_update(b.hash for b in self.descendants_of(block_hash))
            cursor: Block | None = self.blocks[block_hash]
            while cursor is not None:
                self.failed.discard(cursor.hash)
                cursor = self.blocks.get(cursor.prev)
            return self._activate_best_chain()

    # --- mempool -----------------------------------------------------------

    def _remove_entry(self, txid: str) -> None:
        entry = self.mempool.pop(txid)
        for txin in entry.tx.vin:
            if self.spenders.get(txin.outpoint) == txid:
                del self.spenders[txin.outpoint]

    def mempool_descendants(self, txid: str) -> list[str]:
        """``txid`` and everything in the mempool spending it, parents first."""
        result = [txid]
        for current in result:
            tx = self.mempool[current].tx
            for n in range(len(tx.vout)):
                child = self.spenders.get((current, n))
                if child is not None and child not in result:
                    result.append(child)
        return result

    def _remove_with_descendants(self, txid: str) -> list[str]:
        removed = self.mempool_descendants(txid)
        for victim in reversed(removed):
            self._remove_entry(victim)
        return removed

    def drop_from_mempool(self, txid: str) -> list[str]:
        with self.lock:
            if txid not in self.mempool:
                return []
            return self._remove_with_descendants(txid)

    def mempool_parents(self, entry: MempoolEntry) -> list[str]:
        return sorted({i.outpoint[0] for i in entry.tx.vin if i.outpoint[0] in self.mempool})

    def _lookup_coin(self, outpoint: tuple[str, int]) -> Coin | None:
        coin = self.utxos.get(outpoint)
        if coin is not None:
            return coin
        parent = self.mempool.get(outpoint[0])
        if parent is not None and outpoint[1] < len(parent.tx.vout):
            out = parent.tx.vout[outpoint[1]]
            return Coin(out.value, out.script, MEMPOOL_HEIGHT, False)
        return None

    def _check_standalone(self, tx: Tx) -> None:
        """Context-free consensus and standardness checks (CheckTransaction, IsStandardTx)."""
        if not tx.vin:
            raise Rejected(RPC_VERIFY_REJECTED, "bad-txns-vin-empty")
        if not tx.vout:
            raise Rejected(RPC_VERIFY_REJECTED, "bad-txns-vout-empty")
        total = 0
        for out in tx.vout:
            if out.value < 0:
                raise Rejected(RPC_VERIFY_REJECTED, "bad-txns-vout-negative")
            if out.value > MAX_MONEY:
                raise Rejected(RPC_VERIFY_REJECTED, "bad-txns-vout-toolarge")
            total += out.value
        if total > MAX_MONEY:
            raise Rejected(RPC_VERIFY_REJECTED, "bad-txns-txouttotal-toolarge")
        if len({i.outpoint for i in tx.vin}) != len(tx.vin):
            raise Rejected(RPC_VERIFY_REJECTED, "bad-txns-inputs-duplicate")
        if tx.is_coinbase or any(i.is_coinbase for i in tx.vin):
            raise Rejected(RPC_VERIFY_REJECTED, "coinbase")
        if tx.version not in (1, 2):
            raise Rejected(RPC_VERIFY_REJECTED, "version")
        if len(tx.serialize(with_witness=False)) < 65 and self.segwit:
            raise Rejected(RPC_VERIFY_REJECTED, "tx-size-small")
        if tx.weight > 400_000:
            raise Rejected(RPC_VERIFY_REJECTED, "tx-size")
        for out in tx.vout:
            kind = classify(self.params, out.script).type
            if kind in ("nonstandard", "witness_unknown"):
                raise Rejected(RPC_VERIFY_REJECTED, "scriptpubkey")
            if out.value < self.params.dust_limit(out.script):
                raise Rejected(RPC_VERIFY_REJECTED, "dust")
        if sum(1 for o in tx.vout if o.script[:1] == b"\x6a") > 1:
            raise Rejected(RPC_VERIFY_REJECTED, "multi-op-return")
        final = all(i.sequence == 0xFFFFFFFF for i in tx.vin)
        if tx.locktime and not final:
            limit = (
                self.height + 1 if tx.locktime < 500_000_000 else self.median_time_past(self.tip)
            )
            if tx.locktime >= limit:
                raise Rejected(RPC_VERIFY_REJECTED, "non-final")

    def accept(
        self,
        tx: Tx,
        *,
        test_only: bool = False,
        bypass_limits: bool = False,
        max_fee_rate: int = 0,
        entered: int | None = None,
    ) -> Accepted:
        """AcceptToMemoryPool: validate ``tx`` and (unless ``test_only``) add it."""
        with self.lock:
            txid = tx.txid
            self._check_standalone(tx)
            if txid in self.mempool:
                raise Rejected(RPC_VERIFY_REJECTED, "txn-already-in-mempool")
            if any((txid, n) in self.utxos for n in range(len(tx.vout))):
                raise Rejected(RPC_VERIFY_ALREADY_IN_CHAIN, "txn-already-known")
            prevouts: list[Coin] = []
            for txin in tx.vin:
                coin = self._lookup_coin(txin.outpoint)
                if coin is None:
                    raise Rejected(RPC_VERIFY_ERROR, "bad-txns-inputs-missingorspent")
                prevouts.append(coin)
            spend_height = self.height + 1
            for coin in prevouts:
                if coin.coinbase and spend_height - coin.height < self.maturity:
                    raise Rejected(
                        RPC_VERIFY_REJECTED,
                        "bad-txns-premature-spend-of-coinbase",
                        f"tried to spend coinbase at depth {spend_height - coin.height}",
                    )
            value_in = sum(c.value for c in prevouts)
            value_out = sum(o.value for o in tx.vout)
            if value_in < value_out:
                raise Rejected(
                    RPC_VERIFY_REJECTED,
                    "bad-txns-in-belowout",
                    f"value in ({fmt_money(value_in)}) < value out ({fmt_money(value_out)})",
                )
            fee = value_in - value_out
            vsize = tx.vsize
            if max_fee_rate and fee > max_fee_rate * vsize // 1000:
                raise Rejected(
                    RPC_VERIFY_ERROR,
                    "max-fee-exceeded",
                    "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
                )
            required = self.params.min_relay_fee * vsize // 1000
            if not bypass_limits and fee < required:
                raise Rejected(RPC_VERIFY_REJECTED, "min relay fee not met", f"{fee} < {required}")
            conflicts = sorted(
                {self.spenders[i.outpoint] for i in tx.vin if i.outpoint in self.spenders}
            )
            evicted = self._replacement_checks(tx, fee, conflicts) if conflicts else []
            key = (tx.wtxid, tuple((c.script, c.value) for c in prevouts))
            if key not in self._verified:
                try:
                    check_inputs(
                        self.params,
                        tx,
                        tx.serialize(),
                        [TxOut(c.value, c.script) for c in prevouts],
                    )
                except ScriptError as exc:
                    raise Rejected(RPC_VERIFY_REJECTED, str(exc)) from exc
                self._verified.add(key)
            if test_only:
                return Accepted(tx, fee, evicted)
            for victim in evicted:
                if victim in self.mempool:
                    self._remove_with_descendants(victim)
            now = int(self.clock()) if entered is None else entered
            self.mempool[txid] = MempoolEntry(tx, fee, now, self.height, prevouts)
            for txin in tx.vin:
                self.spenders[txin.outpoint] = txid
            return Accepted(tx, fee, evicted)

    def _replacement_checks(self, tx: Tx, fee: int, conflicts: list[str]) -> list[str]:
        """BIP125 opt-in replace-by-fee (rules 1, 3, 4 and the feerate rule 6)."""
        for txid in conflicts:
            if not self.mempool[txid].tx.signals_rbf:
                raise Rejected(RPC_VERIFY_REJECTED, "txn-mempool-conflict")
        evicted: list[str] = []
        for txid in conflicts:
            evicted += [d for d in self.mempool_descendants(txid) if d not in evicted]
        if any(i.outpoint[0] in evicted for i in tx.vin):
            raise Rejected(
                RPC_VERIFY_REJECTED,
                "bad-txns-spends-conflicting-tx",
                f"{tx.txid} spends conflicting transaction {evicted[0]}",
            )
        if len(evicted) > 100:
            raise Rejected(RPC_VERIFY_REJECTED, "too many potential replacements")
        unit = f"{self.params.asset}/kvB" if self.segwit else f"{self.params.asset}/kB"
        vsize = tx.vsize
        for txid in conflicts:
            old = self.mempool[txid]
            if fee * old.vsize <= old.fee * vsize:
                raise Rejected(
                    RPC_VERIFY_REJECTED,
                    "insufficient fee",
                    f"rejecting replacement {tx.txid}; new feerate "
                    f"{fmt_feerate(fee * 1000 // vsize, unit)} <= old feerate "
                    f"{fmt_feerate(old.fee * 1000 // old.vsize, unit)}",
                )
        conflict_fees = sum(self.mempool[t].fee for t in evicted)
        if fee < conflict_fees:
            raise Rejected(
                RPC_VERIFY_REJECTED,
                "insufficient fee",
                f"rejecting replacement {tx.txid}, less fees than conflicting txs; "
                f"{fmt_money(fee)} < {fmt_money(conflict_fees)}",
            )
        needed = self.params.incremental_relay_fee * vsize // 1000
        if fee - conflict_fees < needed:
            raise Rejected(
                RPC_VERIFY_REJECTED,
                "insufficient fee",
                f"rejecting replacement {tx.txid}, not enough additional fees to relay; "
                f"{fmt_money(fee - conflict_fees)} < {fmt_money(needed)}",
            )
        return evicted

    # --- wallet-ish helpers for the faucet ---------------------------------

    def spendable(self, script: bytes) -> list[tuple[tuple[str, int], Coin]]:
        """Coins paying ``script`` that a new mempool tx may spend now (mature, unspent)."""
        with self.lock:
            spend_height = self.height + 1
            found = [
                (op, c)
                for op, c in self.utxos.items()
                if c.script == script
                and op not in self.spenders
                and not (c.coinbase and spend_height - c.height < self.maturity)
            ]
            for txid, entry in self.mempool.items():
                for n, out in enumerate(entry.tx.vout):
                    if out.script == script and (txid, n) not in self.spenders:
                        found.append(
                            ((txid, n), Coin(out.value, out.script, MEMPOOL_HEIGHT, False))
                        )
            return found
