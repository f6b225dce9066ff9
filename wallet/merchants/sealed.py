"""Secrets at rest: webhook signing secrets and exchange API keys.

Envelope encryption with the custody engineer's KMS interface
(:mod:`wallet.custody.kms`): each value gets its own random data key
(AES-256-GCM), and the data key is stored wrapped by the master key. The
``context`` (purpose and owning row) is the AES-GCM associated data of both
layers, so a sealed value copied into another row does not open.

Stored form (one text column): ``v1.<master-key-id>.<wrap nonce>.<wrapped
key>.<nonce>.<ciphertext>``, base64url parts. No part is secret without
the master key. A master-key rotation (:func:`rewrap`) replaces the middle
three parts and keeps the payload's nonce and ciphertext as they are.
"""

from __future__ import annotations

import base64

from wallet.custody.errors import DecryptionFailed
from wallet.custody.kms import KeyManager, LocalKeyManager, WrappedKey, new_data_key, open_sealed
from wallet.custody.kms import seal as aead_seal
from wallet.custody.secret import SecretBytes

VERSION = "v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_manager(master_key: bytes) -> KeyManager:
    """An in-process KMS over one master key (tests and tools).

    Processes use :func:`wallet.devkeys.platform_kms`, which also knows the
    retired keys a rotation still needs.
    """
    return LocalKeyManager(master_key)


def seal(kms: KeyManager, plaintext: str, context: str) -> str:
    """Encrypt ``plaintext`` for ``context`` (e.g. ``webhook-secret:we_…``)."""
    aad = context.encode()
    data_key = new_data_key()
    wrapped = kms.wrap(data_key, aad)
    nonce, ciphertext = aead_seal(data_key, plaintext.encode(), aad)
    parts = [
        wrapped.master_key_id,
        *map(_b64, (wrapped.nonce, wrapped.ciphertext, nonce, ciphertext)),
    ]
    return ".".join([VERSION, *parts])


def _parse(sealed: str) -> tuple[WrappedKey, bytes, bytes]:
    parts = sealed.split(".")
    if len(parts) != 6 or parts[0] != VERSION:
        raise DecryptionFailed("not a sealed value of a known version")
    try:
        wrapped = WrappedKey(parts[1], _unb64(parts[2]), _unb64(parts[3]))
        return wrapped, _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise DecryptionFailed("sealed value is malformed") from None


def key_id_of(sealed: str) -> str:
    """The public id of the master key that wraps ``sealed``'s data key."""
    return _parse(sealed)[0].master_key_id


def unseal(kms: KeyManager, sealed: str, context: str) -> SecretBytes:
    """The plaintext of ``sealed``; :class:`DecryptionFailed` for another context."""
    wrapped, nonce, ciphertext = _parse(sealed)
    aad = context.encode()
    data_key = kms.unwrap(wrapped, aad)
    return SecretBytes(open_sealed(data_key, nonce, ciphertext, aad))


def rewrap(kms: KeyManager, sealed: str, context: str) -> str:
    """``sealed`` with its data key wrapped under ``kms.key_id``; the payload is not touched.

    Unwrapping authenticates the data key against ``context`` (a value
    copied from another row fails), and the new wrap is bound to the same
    context. Unchanged when already under the current key.
    """
    wrapped, _nonce, _ciphertext = _parse(sealed)
    if wrapped.master_key_id == kms.key_id:
        return sealed
    aad = context.encode()
    rewrapped = kms.wrap(kms.unwrap(wrapped, aad), aad)
    payload = sealed.split(".")[4:]
    parts = [
        rewrapped.master_key_id,
        *map(_b64, (rewrapped.nonce, rewrapped.ciphertext)),
        *payload,
    ]
    return ".".join([VERSION, *parts])
