"""API ``Idempotency-Key`` support: replay the first response, refuse misuse.

Stripe's contract: a POST carrying a key the same user already used gets
the stored response of the first request, byte for byte; the same key with
a different request is an error (``idempotency_key_reused``); the same key
while the first request is still running is ``idempotency_in_flight``.

Usage, inside the request's transaction::

    replay = claim(session, user_id=u, key=k, request_hash=hash_request(...))
    if replay is not None:
        return replay.status, replay.body
    ... do the work ...
    store_response(session, user_id=u, key=k, status=201, body=payload)

Because the claim and the work commit together, a crash leaves no claim
behind, and a concurrent duplicate waits on the unique key until the first
commits, then replays its response.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.db.models.ops import IdempotencyKey
from wallet.errors import IdempotencyInFlight, IdempotencyKeyReused, WalletError

MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: Any


def hash_request(method: str, path: str, body: Any) -> str:
    """A stable fingerprint of a request (canonical JSON of its body)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise WalletError(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters",
            code="invalid_idempotency_key",
        )


def _find(session: Session, user_id: int, key: str) -> IdempotencyKey | None:
    return session.scalars(
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _replay(row: IdempotencyKey, request_hash: str) -> StoredResponse:
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
    if row.response_status is None:
        raise IdempotencyInFlight("a request with this Idempotency-Key is still running")
    return StoredResponse(row.response_status, row.response_body)


def claim(session: Session, *, user_id: int, key: str, request_hash: str) -> StoredResponse | None:
    """Claim ``key`` for this request, or return the response to replay.

    ``None`` means "first time: do the work, then :func:`store_response`".
    """
    _check_key(key)
    existing = _find(session, user_id, key)
    if existing is not None:
        return _replay(existing, request_hash)
    try:
        with session.begin_nested():
            session.add(IdempotencyKey(user_id=user_id, key=key, request_hash=request_hash))
    except IntegrityError:
        # Lost the race to a concurrent request that has committed by now.
        row = _find(session, user_id, key)
        if row is None:
            raise
        return _replay(row, request_hash)
    return None


def store_response(session: Session, *, user_id: int, key: str, status: int, body: Any) -> None:
    """Record the response for a claimed key (same transaction as the work)."""
    row = _find(session, user_id, key)
    if row is None:
        raise WalletError("store_response without a claim", code="idempotency_not_claimed")
    row.response_status = status
    row.response_body = body
    session.flush()
