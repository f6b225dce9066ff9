"""Accounts over the API: sign-up, tokens, sessions (issue 7, "REST API").

Every object here belongs to the caller: another user's token or session id
answers 404 exactly like an id that does not exist.
"""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from wallet.accounts import service, tokens
from wallet.accounts import sessions as user_sessions
from wallet.accounts.errors import InvalidCredentials, LoginThrottled
from webapp.api.authn import api_user, require_auth
from webapp.api.blueprint import bp
from webapp.api.idempotency import idempotent
from webapp.api.schemas import (
    LogoutEverywhereResponse,
    SessionList,
    SessionOut,
    SignupRequest,
    SignupResponse,
    TokenList,
    TokenOut,
    TokenRequest,
    TokenResponse,
)
from webapp.api.spec import documented
from webapp.api.validation import parse_body
from webapp.extensions import unit_of_work
from webapp.ratelimit import limited
from webapp.security import client_ip, current_session


@bp.post("/auth/signup")
@limited("auth")
@documented(
    summary="Create a payer or merchant account and a first API token",
    request=SignupRequest,
    auth=False,
    tags=("auth",),
    responses={
        201: (SignupResponse, "The account and its token (shown once)."),
        409: (None, "An account with this e-mail exists (`email_taken`)."),
    },
    description="`role` is `payer` (default) or `merchant`; admins cannot sign up. "
    "Weak passwords get 400 `weak_password`, malformed e-mails 400 `invalid_email`.",
)
def signup() -> ResponseReturnValue:
    """Sign-up for payers and merchants (issue 7, "Accounts and sessions")."""
    body = parse_body(SignupRequest)
    with unit_of_work() as db:
        user = service.sign_up(db, body.email, body.password, body.role)
        issued = tokens.issue_token(db, user, "signup")
    out = SignupResponse.model_validate(
        {
            "user": {"id": user.id, "email": user.email, "role": user.role.value},
            "token": issued.token,
        }
    )
    return jsonify(out.model_dump(mode="json")), 201


@bp.post("/auth/token")
@limited("auth")
@documented(
    summary="Exchange e-mail and password for a new API token",
    request=TokenRequest,
    auth=False,
    tags=("auth",),
    responses={
        200: (TokenResponse, "A new token (shown once)."),
        401: (None, "Wrong e-mail or password (`invalid_credentials`)."),
        429: (None, "Too many failures for this account from here (`login_throttled`)."),
    },
)
def issue_api_token() -> ResponseReturnValue:
    """Sign in with a password and receive a bearer token."""
    body = parse_body(TokenRequest)
    failure: InvalidCredentials | LoginThrottled | None = None
    with unit_of_work() as db:
        try:
            user = service.authenticate(db, body.email, body.password, client_ip=client_ip())
        except (InvalidCredentials, LoginThrottled) as exc:
            failure = exc  # commit the recorded failure, then refuse
        else:
            issued = tokens.issue_token(db, user, body.name or "api")
    if failure is not None:
        raise failure
    return jsonify(TokenResponse(token=issued.token).model_dump(mode="json"))


@bp.get("/auth/tokens")
@require_auth
@documented(
    summary="List your API tokens (never their values)",
    tags=("auth",),
    responses={200: (TokenList, "Your live tokens, newest first.")},
)
def list_api_tokens() -> ResponseReturnValue:
    with unit_of_work() as db:
        rows = tokens.list_tokens(db, api_user().id)
    out = TokenList(
        tokens=[
            TokenOut(
                id=r.id,
                name=r.name,
                prefix=r.prefix,
                created_at=r.created_at,
                last_used_at=r.last_used_at,
                expires_at=r.expires_at,
            )
            for r in rows
        ]
    )
    return jsonify(out.model_dump(mode="json"))


@bp.delete("/auth/tokens/<int:token_id>")
@require_auth
@idempotent
@documented(
    summary="Revoke one of your API tokens",
    tags=("auth",),
    idempotent=True,
    responses={
        204: (None, "Revoked."),
        404: (None, "No such token of yours (`not_found`)."),
    },
)
def revoke_api_token(token_id: int) -> ResponseReturnValue:
    with unit_of_work() as db:
        tokens.revoke_token(db, api_user().id, token_id)
    return "", 204


@bp.get("/auth/sessions")
@require_auth
@documented(
    summary="List your signed-in browser sessions",
    tags=("auth",),
    responses={200: (SessionList, "Your live sessions, most recently active first.")},
)
def list_sessions() -> ResponseReturnValue:
    mine = current_session()
    with unit_of_work() as db:
        rows = user_sessions.active_sessions(db, api_user().id)
    out = SessionList(
        sessions=[
            SessionOut(
                id=r.id,
                created_at=r.created_at,
                last_seen_at=r.last_seen_at,
                ip=r.ip,
                user_agent=r.user_agent,
                current=mine is not None and mine.id == r.id,
            )
            for r in rows
        ]
    )
    return jsonify(out.model_dump(mode="json"))


@bp.delete("/auth/sessions/<int:session_id>")
@require_auth
@documented(
    summary="Sign out one of your browser sessions",
    tags=("auth",),
    responses={204: (None, "Signed out."), 404: (None, "No such session of yours (`not_found`).")},
)
def end_session(session_id: int) -> ResponseReturnValue:
    with unit_of_work() as db:
        user_sessions.end_own_session(db, api_user().id, session_id)
    return "", 204


@bp.post("/auth/logout-everywhere")
@require_auth
@documented(
    summary="Sign out every browser session of yours",
    tags=("auth",),
    description="API tokens are not affected; revoke them one by one.",
    responses={200: (LogoutEverywhereResponse, "How many sessions were ended.")},
)
def logout_everywhere() -> ResponseReturnValue:
    with unit_of_work() as db:
        count = user_sessions.end_all_sessions(db, api_user().id)
    return jsonify(LogoutEverywhereResponse(sessions_ended=count).model_dump(mode="json"))
