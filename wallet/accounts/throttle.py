"""Brute-force protection for sign-in that slows attackers, not the owner.

Failures are counted per (account, client address) and, with a larger
allowance, per client address (credential stuffing across many accounts).
Past the free allowance each further failure doubles the wait, capped at
:data:`MAX_DELAY`; there is no permanent lock. An attacker hammering one
account from one address therefore gets slower and slower, while the real
owner signing in from their own phone (another address) is unaffected, and
at worst waits :data:`MAX_DELAY` on the attacker's address. The check runs
*before* the password is verified, so a throttled guess learns nothing even
when it is right. Counts fade after :data:`FAILURE_MEMORY` without failures.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.accounts.errors import LoginThrottled
from wallet.accounts.models import LoginThrottle

MAX_DELAY = timedelta(minutes=15)
FAILURE_MEMORY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    free_failures: int


ACCOUNT_IP = Scope("account_ip", 5)
IP = Scope("ip", 50)


def _key(scope: Scope, *parts: str) -> str:
    return hashlib.sha256("|".join((scope.name, *parts)).encode()).hexdigest()


def _keys(email: str, client_ip: str) -> list[tuple[Scope, str]]:
    return [
        (ACCOUNT_IP, _key(ACCOUNT_IP, email.strip().lower(), client_ip)),
        (IP, _key(IP, client_ip)),
    ]


def delay_after(failures: int, scope: Scope) -> timedelta:
    """How long to wait after ``failures`` consecutive failures in ``scope``."""
    over = failures - scope.free_failures
    if over < 0:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(over, 20)), MAX_DELAY)


def check_allowed(session: Session, email: str, client_ip: str, now: datetime) -> None:
    """Raise :class:`LoginThrottled` if this client must wait before trying."""
    wait = timedelta(0)
    for _scope, key in _keys(email, client_ip):
        row = session.get(LoginThrottle, key)
        if row is not None and row.blocked_until is not None and row.blocked_until > now:
            wait = max(wait, row.blocked_until - now)
    if wait > timedelta(0):
        raise LoginThrottled(
            "too many failed sign-ins from here; try again shortly",
            retry_after=max(1, math.ceil(wait.total_seconds())),
        )


def _locked_row(session: Session, key: str, scope: Scope, now: datetime) -> LoginThrottle:
    row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = LoginThrottle(key=key, scope=scope.name, failures=0, last_failure_at=now)
            session.add(row)
    except IntegrityError:  # a concurrent failure inserted it first
        row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        if row is None:  # pragma: no cover - the conflicting insert has committed
            raise
    return row


def record_failure(session: Session, email: str, client_ip: str, now: datetime) -> None:
    """Count a failed sign-in (in the caller's transaction)."""
    for scope, key in _keys(email, client_ip):
        row = _locked_row(session, key, scope, now)
        if now - row.last_failure_at > FAILURE_MEMORY:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        delay = delay_after(row.failures, scope)
        row.blocked_until = now + delay if delay else None
    session.flush()


def record_success(session: Session, email: str, client_ip: str) -> None:
    """Forget this account's failures from this address.

    The per-address count is kept: otherwise one valid account would let a
    stuffing attacker reset the counter between guesses at other accounts.
    """
    _scope, key = _keys(email, client_ip)[0]
    row = session.get(LoginThrottle, key)
    if row is not None:
        session.delete(row)
        session.flush()
