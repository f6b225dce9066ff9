"""``Idempotency-Key`` for API requests, with Stripe's semantics.

Built on :mod:`wallet.idempotency` (the ``idempotency_keys`` table):

- The first request with a key claims it in a transaction of its own, so
  the claim (a row with no response yet) is visible at once; the view runs
  in one request transaction (:func:`webapp.extensions.request_transaction`:
  its units of work join it), and its status and JSON body are stored on
  the row in that same transaction. So the work and its stored response
  commit together: a crash between them cannot leave work done with no
  response to replay (a retry after :data:`STALE_CLAIM` would do it again),
  and a payment pays for one transaction fewer.
- The same key with the same request replays the stored response, with
  ``Idempotent-Replayed: true``.
- The same key with a different request (method, path or canonical JSON
  body) is refused: 422 ``idempotency_key_reused``.
- The same key while the first request is still running: 409
  ``idempotency_key_in_use``; the client retries later.
- Keys are scoped per user (``UNIQUE (user_id, key)``): two users never
  see each other's responses.

Committing the claim separately (rather than with the work, as
:mod:`wallet.idempotency` also allows) is what lets a concurrent duplicate
get an immediate 409 instead of waiting on the first request's lock. The
price is cleanup: a request that fails with an unexpected error (5xx)
releases its key so a retry runs again (its transaction rolled back, so
nothing happened), and a claim older than :data:`STALE_CLAIM` (a crashed
process) is released by the next request with the same key and body.
Never use this on a response that contains a secret: the body is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, jsonify, make_response, request
from flask.typing import ResponseReturnValue
from sqlalchemy import delete
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from wallet import idempotency
from wallet.db.models.ops import IdempotencyKey
from wallet.errors import IdempotencyInFlight, WalletError
from webapp.api.authn import api_user
from webapp.errors import http_error_response, wallet_error_response
from webapp.extensions import request_transaction, unit_of_work

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])

HEADER = "Idempotency-Key"
STALE_CLAIM = timedelta(minutes=10)


def request_fingerprint() -> str:
    """The request's fingerprint: method, path and canonical JSON body."""
    body: Any = request.get_json(silent=True) if request.is_json else None
    if body is None:
        body = request.get_data(cache=True, as_text=True)
    return idempotency.hash_request(request.method, request.path, body)


def _replayed(stored: idempotency.StoredResponse) -> Response:
    body = b"" if stored.body is None else jsonify(stored.body).get_data()
    response = make_response(body, stored.status)
    if stored.body is not None:
        response.mimetype = "application/json"
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(user_id: int, key: str, fingerprint: str) -> Response | None:
    """Claim ``key`` for this request, or the response to give instead."""
    try:
        with unit_of_work() as db:
            # A claim older than STALE_CLAIM without a response: its process
            # died mid-request and nothing was committed; it is released.
            stored = idempotency.claim(
                db, user_id=user_id, key=key, request_hash=fingerprint, stale_after=STALE_CLAIM
            )
    except IdempotencyInFlight:
        raise IdempotencyInFlight(
            f"a request with this {HEADER} is still being processed; retry shortly",
            code="idempotency_key_in_use",
        ) from None
    return None if stored is None else _replayed(stored)


def _release(db: Session, user_id: int, key: str) -> None:
    db.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.response_status.is_(None),
        )
    )


def _store(db: Session, user_id: int, key: str, response: Response) -> None:
    body = response.get_json(silent=True) if response.is_json else None
    idempotency.store_response(db, user_id=user_id, key=key, status=response.status_code, body=body)


def _respond(view: Callable[..., ResponseReturnValue], *args: Any, **kwargs: Any) -> Response:
    """The view's response; a refusal (4xx) rendered here, so the stored body is what was sent."""
    try:
        return make_response(view(*args, **kwargs))
    except WalletError as exc:
        return wallet_error_response(exc)
    except HTTPException as exc:
        return http_error_response(exc)


def idempotent(view: F) -> F:
    """Honour ``Idempotency-Key`` on this view (place under :func:`require_auth`)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        user_id = api_user().id
        early = _claim(user_id, key, request_fingerprint())
        if early is not None:
            return early
        with request_transaction() as tx:
            try:
                response = _respond(view, *args, **kwargs)
                if response.status_code >= 500:
                    tx.rollback()
                    _release(tx.session, user_id, key)
                else:
                    _store(tx.session, user_id, key, response)
                tx.commit()
            except Exception:
                # The view, storing its response or the commit failed: nothing was
                # kept, so the key is released for a retry to run again.
                tx.rollback()
                _release(tx.session, user_id, key)
                tx.commit()
                raise
        return response

    return cast(F, wrapped)
