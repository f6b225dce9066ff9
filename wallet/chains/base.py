"""The one interface every chain family implements, and the values it trades in.

Amounts are integers in the asset's minor unit (wei, token base units,
lamports, satoshi/koinu). ``idx`` in an observation is stable across a
re-inclusion of the same transaction in another block, so the credit key
``(chain, txid, idx)`` cannot double count it:

- EVM: 0 for the transaction's own ETH value; 1 + the log's position among
  the *transaction's* receipt logs for a token ``Transfer`` (a block-wide
  ``logIndex`` would change when the transaction moves).
- Solana: the account's position in the transaction's account keys
  (SOL lamports); 1000 + the token balance's ``accountIndex`` (SPL).
- UTXO: the output number ``vout``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from wallet.assets import Chain

if TYPE_CHECKING:
    from wallet.custody.signer import Signer


class ObservationStatus(enum.StrEnum):
    SUCCESS = "success"  # in a block, executed successfully
    REVERTED = "reverted"  # in a block, failed: never credited
    MEMPOOL = "mempool"  # seen, not in a block: never credited


class Purpose(enum.StrEnum):
    """Why the signer is asked to sign: drives its allowlist rule."""

    WITHDRAWAL = "withdrawal"  # to a user's external address, within limits
    SWEEP = "sweep"  # deposit address -> hot wallet
    COLD = "cold"  # hot -> cold wallet surplus
    ESCROW = "escrow"  # custodial payer -> escrow
    EXCHANGE = "exchange"  # escrow/hot -> exchange deposit address
    GAS_TOPUP = "gas_topup"  # hot -> deposit address, fees for a token sweep


@dataclass(frozen=True, slots=True)
class BlockRef:
    height: int
    hash: str


@dataclass(frozen=True, slots=True)
class Observation:
    """One transfer to a watched address, as one block showed it."""

    chain: str
    txid: str
    idx: int
    asset: str
    address: str
    amount_minor: int
    block_number: int | None
    block_hash: str | None
    status: ObservationStatus


@dataclass(frozen=True, slots=True)
class ScanResult:
    observations: list[Observation]
    blocks: list[BlockRef]  # every block scanned, ascending (height, hash)
    # (code, details) of suspicious transfers seen, e.g. a token from a wrong contract
    security_events: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TransferIntent:
    """What to send, keyed by our own idempotency key."""

    key: str
    chain: Chain
    asset: str
    from_address: str
    to_address: str
    amount_minor: int
    purpose: Purpose


@dataclass(frozen=True, slots=True)
class SignedTransfer:
    """A signed transaction ready to (re)broadcast; no key material inside."""

    txid: str
    raw: str  # hex for EVM/UTXO, base64 for Solana
    nonce: int | None = None
    last_valid_height: int | None = None
    fee_minor: int | None = None


class TxState(enum.StrEnum):
    PENDING = "pending"  # known to the node, not yet in a block
    CONFIRMED = "confirmed"  # in the best chain, succeeded
    FAILED = "failed"  # in the best chain, reverted / errored
    DROPPED = "dropped"  # definitively never included (expired)
    UNKNOWN = "unknown"  # the node does not know it (yet); may still land


@dataclass(frozen=True, slots=True)
class TxStatus:
    state: TxState
    block_number: int | None = None
    confirmations: int = 0


@dataclass(frozen=True, slots=True)
class CreditCheck:
    """The adapter's re-verification of an observation before crediting.

    ``amount_minor`` is what actually arrived (0: credit nothing);
    ``reason`` names why not, as a stable security-event code.
    """

    amount_minor: int
    reason: str | None = None
    detail: dict[str, str] = field(default_factory=dict)


class ChainAdapter(Protocol):
    """One chain: addresses, balances, fees, sends and block scans."""

    chain: Chain

    def head(self) -> BlockRef:
        """The best block (EVM ``latest``, Solana ``confirmed`` slot, UTXO tip)."""
        ...

    def block_hash(self, height: int) -> str | None:
        """Hash of the best chain's block at ``height``; None if there is none."""
        ...

    def block_hashes(self, heights: Sequence[int]) -> dict[int, str | None]:
        """:meth:`block_hash` of every height, in as few node requests as the node allows."""
        ...

    def balance(self, address: str, asset: str) -> int: ...

    def estimate_fee(self, asset: str) -> int:
        """Native minor units a typical transfer of ``asset`` costs now."""
        ...

    def build_and_sign(
        self, session: Session, intent: TransferIntent, signer: Signer
    ) -> SignedTransfer:
        """Build the transaction and have the signer sign it (no broadcast)."""
        ...

    def broadcast(self, signed: SignedTransfer) -> None:
        """Send it; "already known/included" is success (retries are harmless)."""
        ...

    def tx_status(self, signed: SignedTransfer) -> TxStatus: ...

    def fee_paid(self, signed: SignedTransfer, native_out: int = 0) -> int:
        """Native minor units the sender lost to a landed transaction beyond ``native_out``.

        The network fee actually paid (EVM: gas used × effective price;
        UTXO: inputs − outputs), plus on Solana any rent the sender put
        into accounts the transaction created. ``native_out`` is the native
        amount the transfer itself moved (0 for a token transfer).
        """
        ...

    def scan(self, start: int, end: int, watched: AbstractSet[str]) -> ScanResult:
        """Transfers to ``watched`` in blocks ``start..end``; cost grows with blocks only."""
        ...

    def verify_credit(self, observation: Observation) -> CreditCheck: ...

    def normalise(self, address: str) -> str:
        """The form watched sets and observations use for ``address``."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class UtxoInput:
    txid: str
    vout: int
    value: int  # satoshi / koinu
    address: str  # ours: the signer derives its key


@dataclass(frozen=True, slots=True)
class UtxoOutput:
    address: str
    value: int


@dataclass(frozen=True, slots=True)
class UtxoPlan:
    """A coin selection the signer turns into a signed transaction (it checks it first)."""

    inputs: list[UtxoInput]
    outputs: list[UtxoOutput]

    @property
    def fee(self) -> int:
        return sum(i.value for i in self.inputs) - sum(o.value for o in self.outputs)
