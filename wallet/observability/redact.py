"""Masking secrets before anything leaves the process (logs, Sentry events).

Three nets, because a secret can arrive in any shape:

1. **By key**: any mapping key or ``key=value`` / ``"key": "value"`` pair
   whose name says secret (password, token, secret, api key, authorization,
   cookie, seed, mnemonic, private/master key, signature, DSN, ...).
2. **By shape**: ``Authorization: Bearer …``/``Basic …`` header values and
   the password part of ``scheme://user:password@host`` URLs.
3. **By value**: every ``SecretStr`` in ``Settings`` (and anything else
   :meth:`Redactor.register` is given) is replaced wherever it appears,
   even inside free text or a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretStr

MASK = "[REDACTED]"

# Names that mark a secret (a pattern, not a secret).
_SECRET_NAME = "|".join(
    (
        r"pass(?:word|wd|phrase)?|secret|token|api[_-]?key|apikey|authorization|auth|cookie",
        r"set-cookie|session|sid|seed|mnemonic|private[_-]?key|master[_-]?key|signature",
        r"credentials?|dsn|cvv|x-razorpay-signature|x-taskforce-signature|x-mbx-apikey",
    )
)
SECRET_KEY = re.compile(
    rf"^(?:.*[_-])?(?:{_SECRET_NAME})(?:[_-].*)?$|(?:{_SECRET_NAME})$", re.IGNORECASE
)
# key=value and "key": "value" pairs inside free text.
_PAIR = re.compile(
    rf"""(?P<key>["']?[\w-]*(?:{_SECRET_NAME})[\w-]*["']?)(?P<sep>\s*[:=]\s*)"""
    r"""(?P<q>["']?)(?P<value>(?:Bearer\s+|Basic\s+)?[^\s"',;&}]+)""",
    re.IGNORECASE,
)
# (not "…/auth/token HTTP/1.1" in a request line)
_SCHEME = re.compile(
    r"\b(?P<scheme>Bearer|Basic|Token)\s+(?!HTTP/\d)[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE
)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/\s]+)(?P<at>@)")

MIN_REGISTERED = 6  # shorter registered values would mask ordinary words


def is_secret_key(name: str) -> bool:
    return bool(SECRET_KEY.search(name))


class Redactor:
    """Masks secrets in text and in nested JSON-like values."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        for value in values:
            self.register(value)

    def register(self, value: str | SecretStr | None) -> None:
        """Mask this exact value wherever it appears from now on."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value and len(value) >= MIN_REGISTERED:
            self._values.add(value)

    def text(self, text: str) -> str:
        # Longest first, so a secret that contains another is masked whole.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", text)
        text = _SCHEME.sub(lambda m: f"{m['scheme']} {MASK}", text)
        return _PAIR.sub(lambda m: f"{m['key']}{m['sep']}{m['q']}{MASK}", text)

    def value(self, value: Any, key: str | None = None) -> Any:
        """A copy of ``value`` with secret-named keys masked and strings scrubbed."""
        if key is not None and is_secret_key(key) and value not in (None, "", [], {}):
            return MASK
        if isinstance(value, SecretStr):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {str(k): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        return value


def settings_secrets(settings: Any) -> list[str]:
    """The plain values of every ``SecretStr`` field of a settings object."""
    found: list[str] = []
    model_fields = getattr(type(settings), "model_fields", {})
    for name in model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, str) and is_secret_key(name):
            found.append(value)
    return found


def redactor_for(settings: Any | None) -> Redactor:
    return Redactor(settings_secrets(settings) if settings is not None else ())
