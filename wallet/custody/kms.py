"""A KMS-style key manager: wrap and unwrap data keys, never export the master.

Envelope encryption (the pattern of AWS KMS ``GenerateDataKey`` / Google
Cloud KMS): each secret (a BIP39 seed) is encrypted with AES-256-GCM under
its own random *data key*; the data key is stored only *wrapped* by the
master key. A real KMS implements :class:`KeyManager` by calling its
Encrypt/Decrypt API; :class:`LocalKeyManager` does it in-process with the
32-byte ``WALLET_MASTER_KEY`` (:func:`wallet.devkeys.master_key`).

Every ciphertext is bound to its purpose by AES-GCM associated data (the
``context``): a data key wrapped for the EVM seed does not unwrap as the
Solana one, and a ciphertext copied between rows fails authentication.
Master-key rotation re-wraps data keys only; seeds are never re-encrypted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wallet.custody.errors import DecryptionFailed, KeyUnavailable
from wallet.custody.secret import SecretBytes

NONCE_BYTES = 12  # the AES-GCM standard nonce; random per encryption
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under the master key named by ``master_key_id``."""

    master_key_id: str
    nonce: bytes
    ciphertext: bytes


class KeyManager(Protocol):
    """What custody needs from a KMS: wrap and unwrap 32-byte data keys."""

    @property
    def key_id(self) -> str:
        """Id of the key new wraps use (not secret)."""
        ...

    def wrap(self, data_key: SecretBytes, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> SecretBytes: ...


def key_fingerprint(key: bytes) -> str:
    """A public id for a master key: HMAC of a fixed label, not a hash of the key."""
    return "mk-" + hmac.new(key, b"taskforce/kms/key-id/v1", hashlib.sha256).hexdigest()[:16]


def seal(key: SecretBytes, plaintext: bytes, context: bytes) -> tuple[bytes, bytes]:
    """AES-256-GCM encrypt ``plaintext`` bound to ``context``: (nonce, ciphertext)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key.reveal()).encrypt(nonce, plaintext, context)


def open_sealed(key: SecretBytes, nonce: bytes, ciphertext: bytes, context: bytes) -> bytes:
    """Decrypt and authenticate; :class:`DecryptionFailed` names no key material."""
    try:
        return AESGCM(key.reveal()).decrypt(nonce, ciphertext, context)
    except InvalidTag:
        raise DecryptionFailed("ciphertext failed authentication for this purpose") from None


class LocalKeyManager:
    """In-process KMS over the master key; older keys may be kept to unwrap only.

    ``previous`` lists retired master keys during a rotation: they unwrap
    old data keys, and :func:`wallet.custody.rotation.rotate_all` re-wraps
    those under the current key. Processes build it with
    :func:`wallet.devkeys.platform_kms`.
    """

    __slots__ = ("_current", "_keys")

    def __init__(self, master_key: bytes, previous: Sequence[bytes] = ()) -> None:
        for key in (master_key, *previous):
            if len(key) != KEY_BYTES:
                raise KeyUnavailable(f"master keys are {KEY_BYTES} bytes")
        self._current = key_fingerprint(master_key)
        self._keys = {key_fingerprint(k): SecretBytes(k) for k in (*previous, master_key)}

    @property
    def key_id(self) -> str:
        return self._current

    def wrap(self, data_key: SecretBytes, context: bytes) -> WrappedKey:
        nonce, ciphertext = seal(self._keys[self._current], data_key.reveal(), context)
        return WrappedKey(self._current, nonce, ciphertext)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> SecretBytes:
        key = self._keys.get(wrapped.master_key_id)
        if key is None:
            raise KeyUnavailable(f"master key {wrapped.master_key_id} is not configured")
        return SecretBytes(open_sealed(key, wrapped.nonce, wrapped.ciphertext, context))

    def __repr__(self) -> str:
        return f"LocalKeyManager(key_id={self._current!r}, keys={len(self._keys)})"


def new_data_key() -> SecretBytes:
    return SecretBytes(os.urandom(KEY_BYTES))
