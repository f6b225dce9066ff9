"""Handing out addresses: from xpubs (EVM, UTXO) or the signer's pool (Solana).

**Solana: a pre-derived pool, not one shared address with references.**
Solana keys are ed25519, hardened-only, so nothing can derive an address
from a public key. The signer (the only holder of the seed) therefore
pre-derives addresses ``m/44'/501'/i'/0'`` into ``wallet_addresses`` with
no owner, and the web tier assigns unused ones (:func:`fill_solana_pool`,
:func:`assign_address`). We chose this over Solana Pay ``reference`` keys
on one shared address because (1) a deposit must work from any sender —
exchange withdrawals and many wallets drop the extra reference account —
(2) per-address funds let a credit be checked against *that address's*
balance change (our credit rule), which a shared address cannot give
when payments overlap, and (3) a user's custodial wallet needs an address
of its own anyway. Solana Pay links still carry a ``reference`` (see
:mod:`wallet.paylinks`) as an extra match key when the wallet keeps it.
The cost is rent for each deposit address's token account and a fee
top-up when sweeping, which :mod:`wallet.custody.sweeps` pays.

Indices 0..15 of every chain are reserved for platform addresses (hot,
escrow); users start at 16. The unique ``(chain, purpose, index)`` and
``(chain, address)`` keys make concurrent allocation safe: a loser retries.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.assets import Chain
from wallet.chains.networks import NetworkKind
from wallet.custody import hd
from wallet.custody.errors import DerivationError, KeyUnavailable
from wallet.custody.vault import SeedVault
from wallet.db.models.users import AddressPurpose, WalletAddress

PLATFORM_INDEX = {AddressPurpose.HOT: 0, AddressPurpose.ESCROW: 1}
FIRST_USER_INDEX = 16


class PublicKeys:
    """The web tier's view of custody: xpubs only, derivation without secrets."""

    def __init__(self, vault: SeedVault) -> None:
        self._vault = vault
        self.kind: NetworkKind = vault.kind

    def address(self, session: Session, chain: Chain, index: int) -> str:
        return hd.public_address(chain, self.kind, self._vault.xpub(session, chain), index)


def _next_index(session: Session, chain: Chain) -> int:
    top = session.scalar(
        select(func.max(WalletAddress.derivation_index)).where(WalletAddress.chain == chain.value)
    )
    return max(FIRST_USER_INDEX, (top or 0) + 1)


def platform_address(
    session: Session, keys: PublicKeys, chain: Chain, purpose: AddressPurpose
) -> WalletAddress:
    """The hot or escrow address of ``chain`` (EVM/UTXO; Solana via the pool filler)."""
    found = session.scalars(
        select(WalletAddress).where(
            WalletAddress.chain == chain.value,
            WalletAddress.purpose == purpose,
            WalletAddress.user_id.is_(None),
            WalletAddress.derivation_index == PLATFORM_INDEX[purpose],
        )
    ).one_or_none()
    if found is not None:
        return found
    address = keys.address(session, chain, PLATFORM_INDEX[purpose])
    return _insert(session, chain, purpose, address, PLATFORM_INDEX[purpose], None)


def _insert(
    session: Session,
    chain: Chain,
    purpose: AddressPurpose,
    address: str,
    index: int,
    user_id: int | None,
) -> WalletAddress:
    row = WalletAddress(
        user_id=user_id, chain=chain.value, purpose=purpose, address=address, derivation_index=index
    )
    with session.begin_nested():
        session.add(row)
        session.flush()
    return row


def assign_address(
    session: Session,
    keys: PublicKeys,
    chain: Chain,
    user_id: int,
    purpose: AddressPurpose = AddressPurpose.CUSTODIAL,
    *,
    attempts: int = 5,
) -> WalletAddress:
    """A user's address on ``chain``: the existing custodial one, or a new one.

    ``DEPOSIT`` addresses (one per external payment) are always new.
    Solana takes an unassigned address from the pool.
    """
    if purpose is AddressPurpose.CUSTODIAL:
        existing = session.scalars(
            select(WalletAddress).where(
                WalletAddress.chain == chain.value,
                WalletAddress.user_id == user_id,
                WalletAddress.purpose == purpose,
            )
        ).first()
        if existing is not None:
            return existing
    if chain is Chain.SOLANA:
        return _take_from_pool(session, user_id, purpose)
    for _ in range(attempts):
        index = _next_index(session, chain)
        try:
            return _insert(
                session, chain, purpose, keys.address(session, chain, index), index, user_id
            )
        except IntegrityError:
            continue  # a concurrent allocation took the index; take the next
    raise DerivationError(f"could not allocate a {chain.value} address")


def _take_from_pool(session: Session, user_id: int, purpose: AddressPurpose) -> WalletAddress:
    row = session.scalars(
        select(WalletAddress)
        .where(
            WalletAddress.chain == Chain.SOLANA.value,
            WalletAddress.user_id.is_(None),
            WalletAddress.purpose == AddressPurpose.DEPOSIT,
            WalletAddress.derivation_index >= FIRST_USER_INDEX,
        )
        .order_by(WalletAddress.derivation_index)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if row is None:
        raise KeyUnavailable("the Solana address pool is empty; the signer must refill it")
    row.user_id = user_id
    row.purpose = purpose
    session.flush()
    return row


def fill_solana_pool(session: Session, vault: SeedVault, target_free: int) -> int:
    """Signer side: derive Solana addresses until ``target_free`` are unassigned.

    Also makes sure the platform hot and escrow addresses exist. Returns
    how many addresses were added.
    """
    from wallet.custody.vault import family_of

    seed = vault.seed(session, family_of(Chain.SOLANA))
    for purpose, index in PLATFORM_INDEX.items():
        exists = session.scalar(
            select(WalletAddress.id).where(
                WalletAddress.chain == Chain.SOLANA.value,
                WalletAddress.purpose == purpose,
                WalletAddress.derivation_index == index,
            )
        )
        if exists is None:
            _insert(session, Chain.SOLANA, purpose, hd.solana_address(seed, index), index, None)
    free = session.scalar(
        select(func.count(WalletAddress.id)).where(
            WalletAddress.chain == Chain.SOLANA.value,
            WalletAddress.user_id.is_(None),
            WalletAddress.purpose == AddressPurpose.DEPOSIT,
        )
    )
    added = 0
    for _ in range(max(0, target_free - (free or 0))):
        index = _next_index(session, Chain.SOLANA)
        _insert(
            session,
            Chain.SOLANA,
            AddressPurpose.DEPOSIT,
            hd.solana_address(seed, index),
            index,
            None,
        )
        added += 1
    return added


def platform_address_any(session: Session, chain: Chain, purpose: AddressPurpose) -> str:
    """The stored hot/escrow address of ``chain`` (any family)."""
    row = session.scalars(
        select(WalletAddress).where(
            WalletAddress.chain == chain.value,
            WalletAddress.purpose == purpose,
            WalletAddress.derivation_index == PLATFORM_INDEX[purpose],
        )
    ).one_or_none()
    if row is None:
        raise KeyUnavailable(f"no {purpose.value} address on {chain.value} yet")
    return row.address


def index_of(session: Session, chain: Chain, address: str) -> int:
    """The derivation index behind one of our addresses (the signer's lookup)."""
    index = session.scalar(
        select(WalletAddress.derivation_index).where(
            WalletAddress.chain == chain.value, WalletAddress.address == address
        )
    )
    if index is None:
        raise KeyUnavailable(f"{address} is not one of our {chain.value} addresses")
    return int(index)
