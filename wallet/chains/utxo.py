"""Bitcoin and Dogecoin adapter: Bitcoin Core JSON-RPC over httpx, bitcoinlib for keys.

No node wallet and none of bitcoinlib's wallet/service layer (it calls
public providers): we track our own coins. Spendable coins of an address
come from ``scantxoutset`` (the node's UTXO set, no wallet needed),
minus any already spent in the mempool (``gettxout`` with
``include_mempool``). Coin selection is largest-first with change back to
the sending address; change below the dust limit goes to the fee.

Scanning: ``getblockhash`` and ``getblock`` (verbosity 2) for the range,
each as one JSON-RPC batch per ``batch`` blocks; outputs are matched
against the watched address set locally, so calls grow with blocks only.
:meth:`UtxoAdapter.scan_mempool` records unconfirmed sightings (never
credited: an RBF-signalling payment can be replaced by one that pays us
nothing). Amounts are parsed as ``Decimal`` from the JSON text — never
float — and converted to satoshi/koinu exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.orm import Session

from wallet.assets import Chain
from wallet.chains.base import (
    BlockRef,
    CreditCheck,
    Observation,
    ObservationStatus,
    Purpose,
    ScanResult,
    SignedTransfer,
    TransferIntent,
    TxState,
    TxStatus,
    UtxoInput,
    UtxoOutput,
    UtxoPlan,
)
from wallet.chains.networks import ChainNetwork
from wallet.custody.errors import ChainError, InsufficientOnChainFunds
from wallet.custody.signer import Signer
from wallet.http import tls_context

COIN = Decimal(100_000_000)
NOT_FOUND = -5  # RPC_INVALID_ADDRESS_OR_KEY: no such transaction/block
OUT_OF_RANGE = -8  # RPC_INVALID_PARAMETER: getblockhash past the tip
ALREADY_KNOWN = ("txn-already-in-mempool", "already in block chain", "txn-already-known")


def _code(error: Any) -> Any:
    return error.get("code") if isinstance(error, dict) else None


# (dust limit, minimum relay fee per 1000 vbytes) per chain, minor units.
_LIMITS = {Chain.BITCOIN: (294, 1_000), Chain.DOGECOIN: (1_000_000, 100_000)}


def to_minor(value: Decimal | int | str) -> int:
    """Core's 8-decimal amount to satoshi/koinu, exactly (refuses fractions)."""
    minor = Decimal(str(value)) * COIN
    if minor != minor.to_integral_value():
        raise ChainError(f"amount {value} has more than 8 decimals")
    return int(minor)


class UtxoAdapter:
    """One UTXO chain (Bitcoin or Dogecoin) over a Core-compatible node."""

    def __init__(
        self,
        url: str,
        net: ChainNetwork,
        *,
        transport: httpx.BaseTransport | None = None,
        batch: int = 100,
        timeout_s: float = 15.0,
    ) -> None:
        parts = urlsplit(url)
        auth = (parts.username or "", parts.password or "") if parts.username else None
        bare = urlunsplit(
            (parts.scheme, f"{parts.hostname}:{parts.port}", parts.path or "/", "", "")
        )
        self.chain = net.chain
        self.net = net
        self.batch = batch
        self._http = httpx.Client(
            base_url=bare, auth=auth, timeout=timeout_s, transport=transport, verify=tls_context()
        )
        self._ids = 0
        self.dust, self.min_relay = _LIMITS[net.chain]

    def __repr__(self) -> str:
        return f"UtxoAdapter(chain={self.chain.value})"

    def close(self) -> None:
        self._http.close()

    def normalise(self, address: str) -> str:
        return address

    # -- JSON-RPC ---------------------------------------------------------------

    def _post(self, payload: Any) -> Any:
        try:
            reply = self._http.post("", content=json.dumps(payload))
        except httpx.HTTPError as exc:
            raise ChainError(f"node unreachable: {type(exc).__name__}") from None
        if reply.status_code == 401:
            raise ChainError("node refused our RPC credentials")
        try:
            return json.loads(reply.text, parse_float=Decimal)
        except ValueError:
            raise ChainError(f"node answered HTTP {reply.status_code} without JSON") from None

    def _call(self, method: str, *params: Any) -> Any:
        self._ids += 1
        body = self._post({"jsonrpc": "1.0", "id": self._ids, "method": method, "params": params})
        if body.get("error"):
            error = body["error"]
            raise ChainError(f"{method}: {error.get('message')} ({error.get('code')})")
        return body["result"]

    def _batch(
        self, calls: list[tuple[str, list[Any]]], *, none_on: int | None = None
    ) -> list[Any]:
        """The results in call order; an item that failed with error code ``none_on`` is None."""
        if not calls:
            return []
        payload = [
            {"jsonrpc": "1.0", "id": n, "method": method, "params": params}
            for n, (method, params) in enumerate(calls)
        ]
        replies = self._post(payload)
        if not isinstance(replies, list):
            raise ChainError("batch call was not answered with an array")
        by_id = {r["id"]: r for r in replies}
        out = []
        for n in range(len(calls)):
            reply = by_id.get(n)
            if reply is None:
                raise ChainError(f"batch item {calls[n][0]} was not answered")
            error = reply.get("error")
            if error and not (none_on is not None and _code(error) == none_on):
                raise ChainError(f"batch item {calls[n][0]} failed: {error}")
            out.append(None if error else reply["result"])
        return out

    # -- reads ------------------------------------------------------------------

    def head(self) -> BlockRef:
        info = self._call("getblockchaininfo")
        return BlockRef(int(info["blocks"]), str(info["bestblockhash"]))

    def block_hash(self, height: int) -> str | None:
        return self.block_hashes([height])[height]

    def block_hashes(self, heights: Sequence[int]) -> dict[int, str | None]:
        """One JSON-RPC batch per ``batch`` heights; a height past the tip is None.

        Only the node's "out of range" is None: a node that cannot be reached
        raises, so a blip is never read as blocks gone (credits reversed, a
        reorg walked back).
        """
        wanted = sorted(set(heights))
        found: dict[int, str | None] = {}
        for i in range(0, len(wanted), self.batch):
            chunk = wanted[i : i + self.batch]
            hashes = self._batch([("getblockhash", [h]) for h in chunk], none_on=OUT_OF_RANGE)
            found.update(
                {h: None if b is None else str(b) for h, b in zip(chunk, hashes, strict=True)}
            )
        return found

    def coins(self, address: str) -> list[UtxoInput]:
        """Confirmed unspent outputs of ``address`` not already spent in the mempool."""
        found = self._call("scantxoutset", "start", [f"addr({address})"])
        coins = []
        for u in found.get("unspents", []):
            if self._call("gettxout", u["txid"], int(u["vout"]), True) is None:
                continue  # spent by a mempool transaction (perhaps our own send)
            coins.append(UtxoInput(u["txid"], int(u["vout"]), to_minor(u["amount"]), address))
        return coins

    def balance(self, address: str, asset: str) -> int:
        return sum(c.value for c in self.coins(address))

    def fee_paid(self, signed: SignedTransfer, native_out: int = 0) -> int:
        """Inputs minus outputs, known exactly since we chose the coins."""
        if signed.fee_minor is None:
            raise ChainError(f"transaction {signed.txid} has no recorded fee")
        return signed.fee_minor

    def fee_rate(self) -> int:
        """Minor units per 1000 vbytes for ~6 blocks, never below the relay minimum."""
        try:
            estimate = self._call("estimatesmartfee", 6)
        except ChainError:
            estimate = {}
        rate = estimate.get("feerate")
        return max(to_minor(rate) if rate is not None else 2 * self.min_relay, self.min_relay)

    def _vsize(self, n_in: int, n_out: int) -> int:
        if self.net.segwit:
            return 11 + 68 * n_in + 31 * n_out
        return 10 + 148 * n_in + 34 * n_out

    def estimate_fee(self, asset: str) -> int:
        return -(-self.fee_rate() * self._vsize(1, 2) // 1000)

    # -- sends ------------------------------------------------------------------

    def sweep_amount(self, address: str) -> int:
        """What sweeping every coin of ``address`` into one output delivers (≤ 0: nothing)."""
        coins = self.coins(address)
        if not coins:
            return 0
        fee = -(-self.fee_rate() * self._vsize(len(coins), 1) // 1000)
        return sum(c.value for c in coins) - fee

    def plan(self, intent: TransferIntent) -> UtxoPlan:
        """Largest-first coin selection; change back to the sender above dust.

        A sweep (``Purpose.SWEEP``) spends *every* coin of the address, so
        a deposit address made of many small payments is consolidated in
        one transaction.
        """
        if intent.amount_minor < self.dust:
            raise ChainError(f"{intent.amount_minor} is below the dust limit {self.dust}")
        rate = self.fee_rate()
        consolidate = intent.purpose is Purpose.SWEEP
        n_out = 1 if consolidate else 2
        chosen: list[UtxoInput] = []
        total = fee = 0
        for coin in sorted(self.coins(intent.from_address), key=lambda c: -c.value):
            chosen.append(coin)
            total += coin.value
            fee = -(-rate * self._vsize(len(chosen), n_out) // 1000)
            if not consolidate and total >= intent.amount_minor + fee:
                break
        if total < intent.amount_minor + fee or not chosen:
            raise InsufficientOnChainFunds(
                f"{intent.from_address} has {total} spendable; {intent.amount_minor} plus fees"
                " is more"
            )
        outputs = [UtxoOutput(intent.to_address, intent.amount_minor)]
        change = total - intent.amount_minor - fee
        if change >= self.dust:
            outputs.append(UtxoOutput(intent.from_address, change))
        return UtxoPlan(chosen, outputs)

    def build_and_sign(
        self, session: Session, intent: TransferIntent, signer: Signer
    ) -> SignedTransfer:
        plan = self.plan(intent)
        raw = signer.sign_utxo(session, intent, plan)
        txid = self._call("decoderawtransaction", raw)["txid"]
        return SignedTransfer(txid=str(txid), raw=raw, fee_minor=plan.fee)

    def broadcast(self, signed: SignedTransfer) -> None:
        try:
            self._call("sendrawtransaction", signed.raw)
        except ChainError as exc:
            if any(text in str(exc) for text in ALREADY_KNOWN):
                return
            raise

    def tx_status(self, signed: SignedTransfer) -> TxStatus:
        try:
            tx = self._call("getrawtransaction", signed.txid, True)
        except ChainError:
            tx = None
        if tx is not None:
            if tx.get("blockhash") and tx.get("confirmations", 0) > 0:
                height = self.head().height - int(tx["confirmations"]) + 1
                return TxStatus(TxState.CONFIRMED, height, int(tx["confirmations"]))
            return TxStatus(TxState.PENDING)
        decoded = self._call("decoderawtransaction", signed.raw)
        for vin in decoded["vin"]:
            if self._call("gettxout", vin["txid"], int(vin["vout"]), True) is None:
                return TxStatus(TxState.DROPPED)  # an input went to another transaction
        return TxStatus(TxState.UNKNOWN)

    # -- scanning ---------------------------------------------------------------

    @staticmethod
    def _address(script: dict[str, Any]) -> str | None:
        if "address" in script:
            return str(script["address"])
        addresses = script.get("addresses") or []
        return str(addresses[0]) if len(addresses) == 1 else None

    def _outputs(
        self,
        tx: dict[str, Any],
        watched: AbstractSet[str],
        height: int | None,
        block_hash: str,
        status: ObservationStatus,
    ) -> list[Observation]:
        out = []
        for vout in tx.get("vout", []):
            address = self._address(vout.get("scriptPubKey", {}))
            if address is None or address not in watched:
                continue
            value = to_minor(vout["value"])
            if value > 0:
                out.append(
                    Observation(
                        self.chain.value, tx["txid"], int(vout["n"]),
                        "BTC" if self.chain is Chain.BITCOIN else "DOGE",
                        address, value, height, block_hash, status,
                    )
                )  # fmt: skip
        return out

    def scan(self, start: int, end: int, watched: AbstractSet[str]) -> ScanResult:
        observations: list[Observation] = []
        blocks: list[BlockRef] = []
        for lo in range(start, end + 1, self.batch):
            heights = list(range(lo, min(end, lo + self.batch - 1) + 1))
            hashes = self._batch([("getblockhash", [h]) for h in heights])
            bodies = self._batch([("getblock", [h, 2]) for h in hashes])
            for height, body in zip(heights, bodies, strict=True):
                if int(body["height"]) != height:
                    raise ChainError("block moved during the scan: reorg in progress, rescan")
                blocks.append(BlockRef(height, str(body["hash"])))
                for tx in body["tx"]:
                    observations += self._outputs(
                        tx, watched, height, str(body["hash"]), ObservationStatus.SUCCESS
                    )
        return ScanResult(observations, blocks)

    def scan_mempool(self, watched: AbstractSet[str]) -> list[Observation]:
        """Unconfirmed payments to us: shown as "detected", never credited."""
        found: list[Observation] = []
        for txid in self._call("getrawmempool"):
            try:
                tx = self._call("getrawtransaction", txid, True)
            except ChainError:
                continue  # left the mempool meanwhile
            found += self._outputs(tx, watched, None, "", ObservationStatus.MEMPOOL)
        return found

    def verify_credit(self, observation: Observation) -> CreditCheck:
        """The output exists in the observed block, paying that address that amount."""
        try:
            tx = self._call("getrawtransaction", observation.txid, True, observation.block_hash)
        except ChainError:
            return CreditCheck(0, "not_in_observed_block")
        for vout in tx.get("vout", []):
            if int(vout["n"]) == observation.idx:
                address = self._address(vout.get("scriptPubKey", {}))
                value = to_minor(vout["value"])
                if address == observation.address and value == observation.amount_minor:
                    return CreditCheck(value)
        return CreditCheck(0, "output_mismatch")
