"""A bytes holder that never shows its contents.

Seeds, data keys and private keys travel inside :class:`SecretBytes` so an
accidental ``repr``, f-string, log call or exception message shows a
redaction marker, not the key. ``reveal()`` is the one explicit way out.
"""

from __future__ import annotations

import hmac


class SecretBytes:
    """Opaque key material; equality is constant-time; never pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError("SecretBytes holds bytes")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"SecretBytes(<{len(self._value)} bytes redacted>)"

    __str__ = __repr__

    def __format__(self, _spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretBytes):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        raise TypeError("SecretBytes is not hashable")

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SecretBytes cannot be pickled")
