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
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from wallet.db.base import utcnow
from wallet.db.models.ops import IdempotencyKey
from wallet.db.rows import table_of
from wallet.db.upsert import dialect_name, insert_unless_taken
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


def _insert_claim(session: Session, user_id: int, key: str, request_hash: str) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``: True if this call made the claim row.

    A concurrent first request still in its transaction makes this wait for
    its outcome (PostgreSQL's unique-index wait), so it never errors.
    """
    made = session.execute(
        _claim_insert(dialect_name(session)),
        {"b_user": user_id, "b_key": key, "b_hash": request_hash, "b_at": utcnow()},
    ).scalar()
    return made is not None


@cache
def _claim_insert(dialect: str) -> Any:
    """Built once per dialect: statement construction costs more than the round trip."""
    return insert_unless_taken(
        dialect,
        IdempotencyKey,
        ["user_id", "key"],
        user_id=bindparam("b_user"),
        key=bindparam("b_key"),
        request_hash=bindparam("b_hash"),
        created_at=bindparam("b_at"),
    )


def claim(
    session: Session,
    *,
    user_id: int,
    key: str,
    request_hash: str,
    stale_after: timedelta | None = None,
) -> StoredResponse | None:
    """Claim ``key`` for this request, or return the response to replay.

    ``None`` means "first time: do the work, then :func:`store_response`".
    ``stale_after``: a claim of the same request still without a response
    after this long belongs to a process that died mid-request (its work
    rolled back); it is released and claimed afresh.
    """
    _check_key(key)
    for _attempt in range(2):
        if _insert_claim(session, user_id, key, request_hash):
            return None
        row = _find(session, user_id, key)
        if row is None:
            continue  # released between our insert and our read: claim again
        if (
            stale_after is not None
            and row.response_status is None
            and row.request_hash == request_hash
            and utcnow() - row.created_at > stale_after
        ):
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))
            session.expunge(row)
            continue
        return _replay(row, request_hash)
    raise IdempotencyInFlight("a request with this Idempotency-Key is still running")


@cache
def _store_update() -> Any:
    """Built once, on the table and its columns (the ORM would copy a statement on an
    entity's attributes on every execution): every idempotent request ends with it."""
    table = table_of(IdempotencyKey)
    return (
        update(table)
        .where(table.c.user_id == bindparam("b_user"), table.c.key == bindparam("b_key"))
        .values(response_status=bindparam("b_status"), response_body=bindparam("b_body"))
    )


def store_response(session: Session, *, user_id: int, key: str, status: int, body: Any) -> None:
    """Record the response for a claimed key (one ``UPDATE``)."""
    stored = session.execute(
        _store_update(),
        {"b_user": user_id, "b_key": key, "b_status": status, "b_body": body},
    )
    if stored.rowcount != 1:  # type: ignore[attr-defined]
        raise WalletError("store_response without a claim", code="idempotency_not_claimed")
