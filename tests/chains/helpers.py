"""Shared set-up for custody and chain tests: a SQLite database with every table,
a vault under a random master key, a signer, and users with addresses."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

import wallet.chains.models
import wallet.custody.models
import wallet.db.models  # noqa: F401 - registers every table
from wallet.assets import Chain, ChainFamily
from wallet.chains.networks import NetworkKind
from wallet.custody.addresses import PublicKeys, assign_address, platform_address
from wallet.custody.kms import LocalKeyManager
from wallet.custody.signer import Signer, SignerPolicy
from wallet.custody.vault import SeedVault
from wallet.db.base import Base
from wallet.db.models.users import AddressPurpose, User, WalletAddress
from wallet.db.session import make_engine, make_session_factory, transaction


def sqlite_factory(path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    return make_session_factory(engine)


@dataclass
class Custody:
    factory: sessionmaker[Session]
    master: bytes
    vault: SeedVault
    keys: PublicKeys
    signer: Signer

    def user(self, email: str) -> int:
        with transaction(self.factory) as s:
            user = User(email=email, password_hash="x")
            s.add(user)
            s.flush()
            return user.id

    def address(
        self, chain: Chain, user_id: int, purpose: AddressPurpose = AddressPurpose.CUSTODIAL
    ) -> str:
        with transaction(self.factory) as s:
            return assign_address(s, self.keys, chain, user_id, purpose).address

    def platform(self, chain: Chain, purpose: AddressPurpose = AddressPurpose.HOT) -> str:
        with transaction(self.factory) as s:
            return platform_address(s, self.keys, chain, purpose).address

    def own(self, chain: Chain, address: str, index: int) -> None:
        """Register an address of ours by index (Solana pool entries in tests)."""
        with transaction(self.factory) as s:
            s.add(
                WalletAddress(
                    chain=chain.value,
                    purpose=AddressPurpose.DEPOSIT,
                    address=address,
                    derivation_index=index,
                )
            )


def make_custody(
    db_path: Path,
    policy_caps: Mapping[str, int] | None = None,
    *,
    tokens: Mapping[str, str] | None = None,
    allowlist: Mapping[str, frozenset[str]] | None = None,
) -> Custody:
    factory = sqlite_factory(db_path)
    master = os.urandom(32)
    vault = SeedVault(LocalKeyManager(master), NetworkKind.SANDBOX)
    with transaction(factory) as s:
        for family in (ChainFamily.EVM, ChainFamily.SOLANA, ChainFamily.UTXO):
            vault.create_seed(s, family)
    caps = dict(policy_caps or {})
    policy = SignerPolicy(
        per_tx_cap=caps,
        daily_cap={asset: cap * 10 for asset, cap in caps.items()},
        token_contracts=dict(tokens or {}),
        allowlist=dict(allowlist or {}),
    )
    return Custody(factory, master, vault, PublicKeys(vault), Signer(vault, policy))
