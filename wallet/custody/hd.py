"""HD derivation: which key and address belong to which index.

Paths (BIP44/BIP84/SLIP-10):

- Ethereum ``m/44'/60'/0'/0/i`` (same path on every EVM network).
- Bitcoin BIP84 ``m/84'/0'/0'/0/i`` (P2WPKH ``bc1…``); test networks use coin
  type 1, so sandbox addresses are ``m/84'/1'/0'/0/i`` → ``bcrt1…``.
- Dogecoin ``m/44'/3'/0'/0/i`` (P2PKH ``D…``); the sandbox uses Dogecoin
  testnet encoding and coin type 1 (``n…``).
- Solana ``m/44'/501'/i'/0'`` — SLIP-10 ed25519 allows hardened steps only.

The web tier holds only the account-level extended *public* keys (stored
in ``custody_keys.xpubs``) and derives deposit addresses with
:func:`public_address`; it never sees a seed. Private derivation
(:func:`private_key`) is for :mod:`wallet.custody.signer` alone.

Solana has no public derivation (ed25519 hardened-only), so Solana deposit
addresses come from a pool the signer pre-derives (:func:`solana_address`,
see :mod:`wallet.custody.addresses` for the choice and why).
"""

from __future__ import annotations

from typing import Any

from wallet.assets import Chain
from wallet.chains.networks import NetworkKind
from wallet.custody.errors import DerivationError
from wallet.custody.secret import SecretBytes

MAX_INDEX = 2**31 - 1


def _coin(chain: Chain, kind: NetworkKind) -> tuple[Any, Any]:
    """(bip_utils class, coin enum) for a chain on a network."""
    from bip_utils import Bip44, Bip44Coins, Bip84, Bip84Coins

    test = kind is NetworkKind.SANDBOX
    if chain is Chain.ETHEREUM:
        return Bip44, Bip44Coins.ETHEREUM
    if chain is Chain.BITCOIN:
        return Bip84, Bip84Coins.BITCOIN_REGTEST if test else Bip84Coins.BITCOIN
    if chain is Chain.DOGECOIN:
        return Bip44, Bip44Coins.DOGECOIN_TESTNET if test else Bip44Coins.DOGECOIN
    if chain is Chain.SOLANA:
        return Bip44, Bip44Coins.SOLANA
    raise DerivationError(f"no derivation for chain {chain}")


def _check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_INDEX:
        raise DerivationError(f"derivation index must be 0..{MAX_INDEX}")
    return index


def _account(seed: SecretBytes, chain: Chain, kind: NetworkKind) -> Any:
    cls, coin = _coin(chain, kind)
    return cls.FromSeed(seed.reveal(), coin).Purpose().Coin().Account(0)


def account_xpub(seed: SecretBytes, chain: Chain, kind: NetworkKind) -> str | None:
    """The account-level extended public key (``m/44'/60'/0'`` …); None for Solana."""
    if chain is Chain.SOLANA:
        return None
    return str(_account(seed, chain, kind).PublicKey().ToExtended())


def public_address(chain: Chain, kind: NetworkKind, xpub: str, index: int) -> str:
    """Deposit address ``index`` from the account xpub: no private key involved."""
    from bip_utils import Bip44Changes

    if chain is Chain.SOLANA:
        raise DerivationError("Solana has no public derivation; use the address pool")
    cls, coin = _coin(chain, kind)
    try:
        account = cls.FromExtendedKey(xpub, coin)
    except Exception:
        raise DerivationError(f"not an account-level extended public key for {chain}") from None
    node = account.Change(Bip44Changes.CHAIN_EXT).AddressIndex(_check_index(index))
    return str(node.PublicKey().ToAddress())


def _node(seed: SecretBytes, chain: Chain, kind: NetworkKind, index: int) -> Any:
    from bip_utils import Bip44Changes

    _check_index(index)
    if chain is Chain.SOLANA:
        cls, coin = _coin(chain, kind)
        # m/44'/501'/i'/0': the Solana CLI / Phantom layout, one account per index.
        return (
            cls.FromSeed(seed.reveal(), coin)
            .Purpose()
            .Coin()
            .Account(index)
            .Change(Bip44Changes.CHAIN_EXT)
        )
    return _account(seed, chain, kind).Change(Bip44Changes.CHAIN_EXT).AddressIndex(index)


def address_from_seed(seed: SecretBytes, chain: Chain, kind: NetworkKind, index: int) -> str:
    """The address at ``index`` computed from the seed (signer side, e.g. Solana's pool)."""
    return str(_node(seed, chain, kind, index).PublicKey().ToAddress())


def solana_address(seed: SecretBytes, index: int) -> str:
    return address_from_seed(seed, Chain.SOLANA, NetworkKind.SANDBOX, index)


def private_key(seed: SecretBytes, chain: Chain, kind: NetworkKind, index: int) -> SecretBytes:
    """The raw 32-byte private key (secp256k1 scalar or ed25519 seed) at ``index``."""
    return SecretBytes(bytes(_node(seed, chain, kind, index).PrivateKey().Raw().ToBytes()))
