"""The sandbox faucet: genesis SOL, the USDC-SPL and BONK mints, and real funding transfers.

Every key is derived from ``--seed``, so mint addresses are stable across
restarts with the same seed. All funding is a signed transaction from the
faucet keypair executed through the same path as ``sendTransaction``; a
Memo with a counter keeps repeated identical fundings distinct transactions.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, TransferParams, create_account, transfer
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction
from spl.memo.constants import MEMO_PROGRAM_ID
from spl.memo.instructions import create_memo
from spl.memo.models import MemoParams
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    initialize_mint2,
    mint_to,
    transfer_checked,
)
from spl.token.models import InitializeMint2Params, MintToParams, TransferCheckedParams

from sandbox.solana.chain import Chain, TxRecord, TxRejected
from sandbox.solana.codec import MINT_LEN, TOKEN_PROGRAM

LAMPORTS_PER_SOL = 10**9
GENESIS_SOL = 100_000_000  # in SOL; the faucet's genesis allocation
MINTS = {"USDC-SPL": 6, "BONK": 5}
MINT_SUPPLY = 10**12  # whole tokens minted to the faucet at start
ASSET_DECIMALS = {"SOL": 9, **MINTS}


class FundError(ValueError):
    """A bad funding request; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def derive_keypair(seed: int, label: str) -> Keypair:
    return Keypair.from_seed(
        hashlib.sha256(f"taskforce-sandbox-solana:{seed}:{label}".encode()).digest()
    )


def parse_amount(amount: object, decimals: int) -> int:
    """A positive decimal string to integer base units; refuses floats and excess precision."""
    if not isinstance(amount, str):
        raise FundError("invalid_amount", 'amount must be a decimal string, e.g. "1.5"')
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise FundError("invalid_amount", f"amount {amount!r} is not a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise FundError("invalid_amount", "amount must be a positive decimal")
    units = value.scaleb(decimals)
    if units != units.to_integral_value():
        raise FundError("invalid_amount", f"amount has more than {decimals} decimal places")
    return int(units)


@dataclass(frozen=True)
class Funded:
    signature: str
    slot: int
    units: int


class Faucet:
    """Owns the faucet keypair and the sandbox mints."""

    def __init__(self, chain: Chain, seed: int) -> None:
        self.chain = chain
        self.keypair = derive_keypair(seed, "faucet")
        self._mint_keys = {symbol: derive_keypair(seed, f"mint:{symbol}") for symbol in MINTS}
        self._counter = 0
        self._lock = threading.Lock()

    @property
    def mints(self) -> dict[str, Pubkey]:
        return {symbol: kp.pubkey() for symbol, kp in self._mint_keys.items()}

    def genesis(self) -> None:
        """Fund the faucet and create the mints (runs before the node serves)."""
        me = self.keypair.pubkey()
        self.chain.genesis_credit(me, GENESIS_SOL * LAMPORTS_PER_SOL)
        rent = self.chain.rent_exempt_minimum(MINT_LEN)
        for symbol, decimals in MINTS.items():
            mint_kp = self._mint_keys[symbol]
            mint = mint_kp.pubkey()
            create = create_account(
                CreateAccountParams(
                    from_pubkey=me,
                    to_pubkey=mint,
                    lamports=rent,
                    space=MINT_LEN,
                    owner=TOKEN_PROGRAM,
                )
            )
            init = initialize_mint2(
                InitializeMint2Params(
                    decimals=decimals, program_id=TOKEN_PROGRAM, mint=mint, mint_authority=me
                )
            )
            self._send([create, init], [mint_kp])
            vault = get_associated_token_address(me, mint)
            supply = mint_to(
                MintToParams(
                    program_id=TOKEN_PROGRAM,
                    mint=mint,
                    dest=vault,
                    mint_authority=me,
                    amount=MINT_SUPPLY * 10**decimals,
                )
            )
            self._send([create_idempotent_associated_token_account(me, me, mint), supply], [])

    def fund(self, address: object, asset: object, amount: object) -> Funded:
        """Send ``amount`` of ``asset`` to ``address``; tokens go to its associated account."""
        if not isinstance(asset, str) or asset not in ASSET_DECIMALS:
            raise FundError("invalid_asset", f"asset must be one of {sorted(ASSET_DECIMALS)}")
        try:
            owner = Pubkey.from_string(address) if isinstance(address, str) else None
        except ValueError:
            owner = None
        if owner is None:
            raise FundError("invalid_address", "address must be a base58 Solana public key")
        units = parse_amount(amount, ASSET_DECIMALS[asset])
        if asset == "SOL":
            record = self.send_sol(owner, units)
        else:
            record = self._send_token(owner, asset, units)
        return Funded(record.signature, record.slot, units)

    def send_sol(self, to: Pubkey, lamports: int) -> TxRecord:
        ix = transfer(
            TransferParams(from_pubkey=self.keypair.pubkey(), to_pubkey=to, lamports=lamports)
        )
        return self._send([ix], [])

    def _send_token(self, owner: Pubkey, asset: str, units: int) -> TxRecord:
        me = self.keypair.pubkey()
        mint = self.mints[asset]
        dest = get_associated_token_address(owner, mint)
        move = transfer_checked(
            TransferCheckedParams(
                program_id=TOKEN_PROGRAM,
                source=get_associated_token_address(me, mint),
                mint=mint,
                dest=dest,
                owner=me,
                amount=units,
                decimals=MINTS[asset],
            )
        )
        return self._send([create_idempotent_associated_token_account(me, owner, mint), move], [])

    def _send(self, instructions: list[Instruction], extra_signers: list[Keypair]) -> TxRecord:
        me = self.keypair.pubkey()
        with self._lock:
            self._counter += 1
            counter = self._counter
        memo = create_memo(
            MemoParams(
                program_id=MEMO_PROGRAM_ID, signer=me, message=f"sandbox faucet #{counter}".encode()
            )
        )
        blockhash, _, _ = self.chain.latest_blockhash("processed")
        message = Message.new_with_blockhash([memo, *instructions], me, blockhash)
        tx = VersionedTransaction(message, [self.keypair, *extra_signers])
        record = self.chain.submit(tx, preflight=True)
        if record is None:  # cannot happen with preflight; kept as a loud failure
            raise TxRejected("NotIncluded")
        if record.err is not None:
            raise TxRejected(record.err, record.logs)
        return record
