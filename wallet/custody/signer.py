"""The signer: the only code that decrypts seeds, with limits of its own.

Callers (withdrawals, sweeps, settlement) hand it a :class:`TransferIntent`
and the unsigned transaction an adapter built. Before signing it checks,
independently of the caller's own checks:

1. the source address is ours (it signs nothing else);
2. the destination: a withdrawal may go to any valid external address;
   sweeps, gas top-ups and escrow transfers only to our own addresses;
   cold-wallet and exchange transfers only to the configured allowlist;
3. a per-transaction cap and a daily cap per asset (UTC day, recorded in
   ``signer_daily_usage`` in the caller's transaction, so a refused or
   rolled-back send uses nothing); an asset with no cap is refused;
4. the transaction itself says what the intent says — recipient, amount,
   token contract, chain id, fee ceiling — decoded from the payload, so a
   bug upstream cannot make it sign something else.

Private keys exist only inside these methods as :class:`SecretBytes` and
are never logged, put in an exception message or returned.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.assets import Chain, get_asset
from wallet.chains.base import Purpose, TransferIntent, UtxoPlan
from wallet.chains.networks import NetworkKind
from wallet.custody import hd
from wallet.custody.addresses import index_of
from wallet.custody.errors import (
    DailyCapExceeded,
    DestinationNotAllowed,
    KeyUnavailable,
    PayloadMismatch,
    PerTransactionCapExceeded,
    SignerRefused,
)
from wallet.custody.models import SignerDailyUsage
from wallet.custody.secret import SecretBytes
from wallet.custody.vault import SeedVault, family_of
from wallet.db.models.users import WalletAddress
from wallet.db.upsert import dialect_insert

log = logging.getLogger(__name__)

ERC20_TRANSFER = bytes.fromhex("a9059cbb")  # transfer(address,uint256)
RBF_SEQUENCE = 0xFFFFFFFD  # BIP125 opt-in
OWN_DESTINATIONS = frozenset({Purpose.SWEEP, Purpose.GAS_TOPUP, Purpose.ESCROW})
ALLOWLISTED_DESTINATIONS = frozenset({Purpose.COLD, Purpose.EXCHANGE})


@dataclass(frozen=True)
class SignerPolicy:
    """The signer's own limits; amounts in the asset's minor units.

    ``allowlist`` maps a chain to the external addresses (cold wallet,
    exchange deposit addresses) that COLD/EXCHANGE transfers may reach.
    ``token_contracts`` is the signer's own copy of the token allowlist.
    ``max_fee`` caps the network fee per transaction, per chain, in native
    minor units.
    """

    per_tx_cap: Mapping[str, int]
    daily_cap: Mapping[str, int]
    allowlist: Mapping[str, frozenset[str]] = field(default_factory=dict)
    token_contracts: Mapping[str, str] = field(default_factory=dict)
    max_fee: Mapping[str, int] = field(default_factory=dict)
    evm_chain_id: int = 31337


def _today() -> Any:
    return datetime.now(UTC).date()


class Signer:
    """Signs EVM, UTXO and Solana transactions for our own addresses."""

    def __init__(self, vault: SeedVault, policy: SignerPolicy) -> None:
        self._vault = vault
        self.policy = policy
        self.kind: NetworkKind = vault.kind

    def __repr__(self) -> str:
        return f"Signer(kind={self.kind.value})"

    # -- policy ------------------------------------------------------------------

    def authorize(self, session: Session, intent: TransferIntent) -> None:
        """Every check that does not need the payload; records daily usage.

        Called last, after the payload checks, so a refused payload uses no
        allowance; the usage row is written in the caller's transaction.
        """
        get_asset(intent.asset)
        amount = intent.amount_minor
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise SignerRefused("the signer signs positive integer amounts only")
        index_of(session, intent.chain, intent.from_address)  # ours, or KeyUnavailable
        self._check_destination(session, intent)
        cap = self.policy.per_tx_cap.get(intent.asset)
        if cap is None or amount > cap:
            raise PerTransactionCapExceeded(
                f"{intent.asset} {amount} exceeds the signer's per-transaction cap {cap}"
            )
        self._use_daily(session, intent)

    def _check_destination(self, session: Session, intent: TransferIntent) -> None:
        if intent.purpose is Purpose.WITHDRAWAL:
            return
        if intent.purpose in OWN_DESTINATIONS:
            ours = session.scalar(
                select(WalletAddress.id).where(
                    WalletAddress.chain == intent.chain.value,
                    WalletAddress.address == intent.to_address,
                )
            )
            if ours is None:
                raise DestinationNotAllowed(
                    f"{intent.purpose.value} may only pay our own {intent.chain.value} addresses"
                )
            return
        allowed = self.policy.allowlist.get(intent.chain.value, frozenset())
        if intent.to_address not in allowed:
            raise DestinationNotAllowed(
                f"{intent.to_address} is not on the signer's {intent.chain.value} allowlist"
            )

    def _use_daily(self, session: Session, intent: TransferIntent) -> None:
        day = _today()
        values = {"day": day, "chain": intent.chain.value, "asset": intent.asset, "used_minor": 0}
        insert = dialect_insert(session)
        session.execute(insert(SignerDailyUsage).values(values).on_conflict_do_nothing())
        row = session.scalars(
            select(SignerDailyUsage)
            .where(
                SignerDailyUsage.day == day,
                SignerDailyUsage.chain == intent.chain.value,
                SignerDailyUsage.asset == intent.asset,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        cap = self.policy.daily_cap.get(intent.asset)
        if cap is None or row.used_minor + intent.amount_minor > cap:
            raise DailyCapExceeded(
                f"{intent.asset}: {row.used_minor} signed today, {intent.amount_minor} more "
                f"exceeds the daily cap {cap}"
            )
        row.used_minor = row.used_minor + intent.amount_minor
        session.flush()

    def _check_fee(self, chain: Chain, fee: int) -> None:
        ceiling = self.policy.max_fee.get(chain.value)
        if ceiling is not None and fee > ceiling:
            raise PayloadMismatch(f"fee {fee} exceeds the signer's {chain.value} ceiling {ceiling}")

    def _key(self, session: Session, chain: Chain, address: str) -> SecretBytes:
        seed = self._vault.seed(session, family_of(chain))
        index = index_of(session, chain, address)
        key = hd.private_key(seed, chain, self.kind, index)
        derived = hd.address_from_seed(seed, chain, self.kind, index)
        if derived.lower() != address.lower():
            raise KeyUnavailable(f"{address} does not match its derivation index")
        return key

    # -- EVM ---------------------------------------------------------------------

    def sign_evm(self, session: Session, intent: TransferIntent, tx: dict[str, Any]) -> bytes:
        """Sign an EIP-1559 transaction dict; returns the raw signed bytes."""
        from eth_account import Account
        from eth_utils import to_checksum_address

        if int(tx.get("chainId", -1)) != self.policy.evm_chain_id:
            raise PayloadMismatch("transaction chain id is not the signer's network")
        to = to_checksum_address(tx["to"])
        data = bytes.fromhex(str(tx.get("data", "0x"))[2:]) if tx.get("data") else b""
        value = int(tx.get("value", 0))
        if get_asset(intent.asset).is_native:
            if to != to_checksum_address(intent.to_address) or value != intent.amount_minor:
                raise PayloadMismatch("native transfer does not match the intent")
            if data:
                raise PayloadMismatch("a native transfer carries no call data")
        else:
            contract = self.policy.token_contracts.get(intent.asset)
            if contract is None or to != to_checksum_address(contract) or value != 0:
                raise PayloadMismatch(f"{intent.asset} transfer is not to its allowlisted contract")
            expected = (
                ERC20_TRANSFER
                + bytes(12)
                + bytes.fromhex(to_checksum_address(intent.to_address)[2:])
                + intent.amount_minor.to_bytes(32, "big")
            )
            if data != expected:
                raise PayloadMismatch("token call data does not match the intent")
        self._check_fee(intent.chain, int(tx["gas"]) * int(tx["maxFeePerGas"]))
        self.authorize(session, intent)
        key = self._key(session, intent.chain, intent.from_address)
        signed = Account.sign_transaction(tx, key.reveal())
        return bytes(signed.raw_transaction)

    # -- UTXO --------------------------------------------------------------------

    def sign_utxo(self, session: Session, intent: TransferIntent, plan: UtxoPlan) -> str:
        """Sign a coin selection; returns the raw transaction hex.

        Every output pays either the intent's recipient (exactly the
        amount, in total) or one of our own addresses (change); inputs
        spend our own addresses only. Inputs signal BIP125 so a stuck
        withdrawal can be fee-bumped.
        """
        from bitcoinlib.keys import Key
        from bitcoinlib.transactions import Transaction

        from wallet.chains.networks import network

        paid = 0
        for out in plan.outputs:
            if out.address == intent.to_address:
                paid += out.value
            elif not self._is_ours(session, intent.chain, out.address):
                raise PayloadMismatch(
                    "an output pays an address that is neither ours nor the payee"
                )
        if paid != intent.amount_minor:
            raise PayloadMismatch("outputs do not pay the intent's amount")
        if plan.fee < 0:
            raise PayloadMismatch("outputs exceed inputs")
        self._check_fee(intent.chain, plan.fee)
        self.authorize(session, intent)
        net = network(intent.chain, self.kind)
        witness = "segwit" if net.segwit else "legacy"
        keys: dict[str, Any] = {}
        for address in {i.address for i in plan.inputs}:
            secret = self._key(session, intent.chain, address)
            keys[address] = Key(secret.reveal(), network=net.bitcoinlib_network, compressed=True)
        tx: Any = Transaction(network=net.bitcoinlib_network, witness_type=witness)
        for item in plan.inputs:
            tx.add_input(
                item.txid,
                item.vout,
                keys=keys[item.address],
                value=item.value,
                witness_type=witness,
                sequence=RBF_SEQUENCE,
            )
        for out in plan.outputs:
            tx.add_output(out.value, address=out.address)
        tx.sign(list(keys.values()))
        if not tx.verify():
            raise PayloadMismatch("the signed transaction does not verify")
        return str(tx.raw_hex())

    def _is_ours(self, session: Session, chain: Chain, address: str | None) -> bool:
        if address is None:
            return False
        return (
            session.scalar(
                select(WalletAddress.id).where(
                    WalletAddress.chain == chain.value, WalletAddress.address == address
                )
            )
            is not None
        )

    # -- Solana ------------------------------------------------------------------

    def sign_solana(
        self, session: Session, intent: TransferIntent, message: Any, blockhash: Any
    ) -> Any:
        """Sign a solders ``Message``: every required signer must be ours."""
        from solders.keypair import Keypair
        from solders.transaction import Transaction

        self._check_solana(intent, message)
        self.authorize(session, intent)
        signers = [str(k) for k in message.account_keys[: message.header.num_required_signatures]]
        keypairs = [
            Keypair.from_seed(self._key(session, intent.chain, s).reveal()) for s in signers
        ]
        return Transaction(keypairs, message, blockhash)

    def _check_solana(self, intent: TransferIntent, message: Any) -> None:
        from solders.pubkey import Pubkey
        from solders.system_program import ID as SYSTEM_PROGRAM_ID
        from solders.token.associated import get_associated_token_address
        from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID

        system = str(SYSTEM_PROGRAM_ID)
        token = str(TOKEN_PROGRAM_ID)
        allowed_extra = {
            str(ASSOCIATED_TOKEN_PROGRAM_ID),  # create-idempotent ATA: pays rent, moves no tokens
            "ComputeBudget111111111111111111111111111111",
            "MemoSq4gqABAXKb8Gv2HvZgyk5JtJN6rpHBg6Tfe5Ns",
        }
        keys = [str(k) for k in message.account_keys]
        moved = 0
        native = get_asset(intent.asset).is_native
        for ix in message.instructions:
            program = keys[ix.program_id_index]
            data = bytes(ix.data)
            accounts = [keys[i] for i in bytes(ix.accounts)]
            if program == system and data[:4] == (2).to_bytes(4, "little") and len(data) == 12:
                if not native or accounts[1] != intent.to_address:
                    raise PayloadMismatch("a SOL transfer goes somewhere the intent does not say")
                moved += int.from_bytes(data[4:12], "little")
            elif program == token and data[:1] == bytes([12]) and len(data) == 10:
                mint = self.policy.token_contracts.get(intent.asset)
                if native or mint is None or accounts[1] != mint:
                    raise PayloadMismatch("a token transfer of a mint the intent does not name")
                ata = get_associated_token_address(
                    Pubkey.from_string(intent.to_address), Pubkey.from_string(mint)
                )
                if accounts[2] != str(ata):
                    raise PayloadMismatch("token transfer to another account than the payee's")
                moved += int.from_bytes(data[1:9], "little")
            elif program not in allowed_extra:
                raise PayloadMismatch(f"instruction of program {program} is not signable")
        if moved != intent.amount_minor:
            raise PayloadMismatch("instructions do not move the intent's amount")
