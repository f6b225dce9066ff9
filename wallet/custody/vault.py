"""Platform seeds at rest: one BIP39 mnemonic per chain family, envelope-encrypted.

``create_seed`` makes a 24-word mnemonic, encrypts it with AES-256-GCM
under a fresh data key, wraps the data key with the :class:`KeyManager`
and stores only ciphertexts plus the account xpubs the web tier needs.
``rotate_master_key`` re-wraps data keys under the current master key; the
seed ciphertexts do not change. Decryption (:meth:`SeedVault.seed`) is
meant for :mod:`wallet.custody.signer` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.assets import Chain, ChainFamily
from wallet.chains.networks import NetworkKind
from wallet.custody import hd
from wallet.custody.errors import KeyUnavailable
from wallet.custody.kms import KeyManager, WrappedKey, new_data_key, open_sealed, seal
from wallet.custody.models import CustodyKey
from wallet.custody.secret import SecretBytes
from wallet.db.base import utcnow

FAMILY_CHAINS: Mapping[ChainFamily, tuple[Chain, ...]] = {
    ChainFamily.EVM: (Chain.ETHEREUM,),
    ChainFamily.SOLANA: (Chain.SOLANA,),
    ChainFamily.UTXO: (Chain.BITCOIN, Chain.DOGECOIN),
}


def seed_context(family: ChainFamily) -> bytes:
    """AES-GCM associated data binding a seed ciphertext to its family."""
    return f"taskforce/custody/seed/v1/{family.value}".encode()


def data_key_context(family: ChainFamily) -> bytes:
    return f"taskforce/custody/data-key/v1/{family.value}".encode()


def _wrapped(row: CustodyKey) -> WrappedKey:
    return WrappedKey(row.master_key_id, row.data_key_nonce, row.data_key_ciphertext)


class SeedVault:
    """Encrypted seeds in ``custody_keys``; public keys readable by anyone."""

    def __init__(self, kms: KeyManager, kind: NetworkKind) -> None:
        self._kms = kms
        self.kind = kind

    def __repr__(self) -> str:
        return f"SeedVault(kind={self.kind.value})"

    def create_seed(self, session: Session, family: ChainFamily) -> CustodyKey:
        """Generate and store the family's seed; an existing one is returned unchanged."""
        existing = self._row(session, family)
        if existing is not None:
            return existing
        from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum

        mnemonic = SecretBytes(
            Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24).ToStr().encode()
        )
        data_key = new_data_key()
        nonce, ciphertext = seal(data_key, mnemonic.reveal(), seed_context(family))
        wrapped = self._kms.wrap(data_key, data_key_context(family))
        seed = self._seed_from_mnemonic(mnemonic)
        xpubs = {
            chain.value: xpub
            for chain in FAMILY_CHAINS[family]
            if (xpub := hd.account_xpub(seed, chain, self.kind)) is not None
        }
        row = CustodyKey(
            family=family.value,
            seed_nonce=nonce,
            seed_ciphertext=ciphertext,
            master_key_id=wrapped.master_key_id,
            data_key_nonce=wrapped.nonce,
            data_key_ciphertext=wrapped.ciphertext,
            xpubs=xpubs,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # a concurrent creator won; theirs is the seed
            found = self._row(session, family)
            if found is None:  # pragma: no cover - the conflict proves it exists
                raise
            return found
        return row

    def xpub(self, session: Session, chain: Chain) -> str:
        """Account xpub of ``chain`` (public; what the web tier derives from)."""
        family = _family(chain)
        row = self._row(session, family)
        if row is None or chain.value not in row.xpubs:
            raise KeyUnavailable(f"no public key for {chain.value}; create the seed first")
        return row.xpubs[chain.value]

    def seed(self, session: Session, family: ChainFamily) -> SecretBytes:
        """The BIP39 seed bytes (decrypts: signer only)."""
        row = self._row(session, family)
        if row is None:
            raise KeyUnavailable(f"no seed for family {family.value}")
        data_key = self._kms.unwrap(_wrapped(row), data_key_context(family))
        mnemonic = open_sealed(data_key, row.seed_nonce, row.seed_ciphertext, seed_context(family))
        return self._seed_from_mnemonic(SecretBytes(mnemonic))

    @staticmethod
    def _seed_from_mnemonic(mnemonic: SecretBytes) -> SecretBytes:
        from bip_utils import Bip39SeedGenerator

        return SecretBytes(bytes(Bip39SeedGenerator(mnemonic.reveal().decode()).Generate()))

    @staticmethod
    def _row(session: Session, family: ChainFamily) -> CustodyKey | None:
        return session.scalars(
            select(CustodyKey).where(CustodyKey.family == family.value)
        ).one_or_none()


def _family(chain: Chain) -> ChainFamily:
    for family, chains in FAMILY_CHAINS.items():
        if chain in chains:
            return family
    raise KeyUnavailable(f"{chain} has no custody family")


def family_of(chain: Chain) -> ChainFamily:
    return _family(chain)


def rotate_master_key(session: Session, kms: KeyManager) -> int:
    """Re-wrap every data key not yet under ``kms.key_id``; returns how many.

    ``kms`` must still know the old master key (e.g. ``LocalKeyManager(new,
    previous=[old])``). Seeds are not re-encrypted: their data keys are the
    same, only the wrapping changes. Safe to re-run after a crash.
    """
    rows = session.scalars(
        select(CustodyKey).where(CustodyKey.master_key_id != kms.key_id).with_for_update()
    ).all()
    for row in rows:
        family = ChainFamily(row.family)
        data_key = kms.unwrap(_wrapped(row), data_key_context(family))
        wrapped = kms.wrap(data_key, data_key_context(family))
        row.master_key_id = wrapped.master_key_id
        row.data_key_nonce = wrapped.nonce
        row.data_key_ciphertext = wrapped.ciphertext
        row.rotated_at = utcnow()
    session.flush()
    return len(rows)
