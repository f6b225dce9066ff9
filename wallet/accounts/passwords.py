"""Password hashing with Argon2id (argon2-cffi) and the password policy.

The hasher's parameters are argon2-cffi's RFC 9106 "low memory" profile
(64 MiB, 3 passes); hashes carry their parameters, so raising them later
only needs :func:`needs_rehash` at the next sign-in.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from wallet.accounts.errors import WeakPassword

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256  # bounds hashing work per request

# A few passwords that every credential-stuffing list starts with.
_COMMON = frozenset(
    {
        "password123",
        "1234567890",
        "qwertyuiop",
        "password1234",
        "iloveyou123",
        "12345678910",
        "0123456789",
        "passw0rd123",
        "adminadmin",
        "letmein1234",
    }
)


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    """The one Argon2id hasher (created on first use, not at import)."""
    return PasswordHasher()


def check_policy(password: str, *, email: str | None = None) -> None:
    """Refuse short, over-long, common or e-mail-derived passwords."""
    if not isinstance(password, str):
        raise WeakPassword("the password must be text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"use at most {MAX_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4:
        raise WeakPassword("this password is too easy to guess")
    if email and lowered == email.lower().split("@", 1)[0]:
        raise WeakPassword("the password must not be your e-mail name")


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong password."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash("a password nobody has")


def burn_verify_time(password: str) -> None:
    """Spend the time a real verify would for an unknown e-mail.

    Without it, "no such account" answers measurably faster than "wrong
    password", and the timing tells an attacker which e-mails have accounts.
    """
    verify_password(_dummy_hash(), password)
