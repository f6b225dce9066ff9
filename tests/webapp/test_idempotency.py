"""Idempotency-Key with Stripe's semantics, through real routes and the test client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select, update

from tests.accounts.helpers import PASSWORD, unique_email
from tests.webapp.conftest import AppFactory, api_signup, bearer
from wallet.db.base import utcnow
from wallet.db.models.ops import AuditLog, IdempotencyKey
from wallet.errors import WalletError
from webapp.api import idempotency as api_idempotency
from webapp.api.authn import api_user, require_auth
from webapp.api.idempotency import STALE_CLAIM, idempotent
from webapp.extensions import after_commit, session_factory, unit_of_work


class Gate:
    """Lets a test hold a request inside its handler."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.hold = False
        self.seen_after_commit: list[int] = []  # effect rows another session saw, per effect


def _effect_app(app: Flask, gate: Gate) -> Flask:
    """Add a POST route whose effect (an audit row) we can count."""
    bp = Blueprint("effects", __name__)

    @bp.post("/api/v1/test/effects")
    @require_auth
    @idempotent
    def create_effect() -> ResponseReturnValue:
        body = request.get_json()
        if gate.hold:
            gate.entered.set()
            gate.release.wait(timeout=10)
        if body.get("fail") == "refuse":
            raise WalletError("refused on purpose", code="test_refused")
        if body.get("fail") == "crash":
            raise RuntimeError("boom")
        user_id = api_user().id
        with unit_of_work() as db:
            row = AuditLog(
                actor=f"user:{user_id}",
                action="test.effect",
                subject_type="t",
                subject_id="1",
            )
            db.add(row)
            db.flush()
            effect_id = row.id
            if body.get("after_commit"):
                after_commit(lambda: gate.seen_after_commit.append(_effects(app, user_id)))
            if body.get("fail") == "inside":
                raise WalletError("refused after writing", code="test_refused")
        if body.get("fail") == "after":
            raise WalletError("refused after the work", code="test_refused")
        return jsonify({"effect_id": effect_id, "echo": body}), 201

    app.register_blueprint(bp)
    return app


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def effect_app(request: pytest.FixtureRequest, make_app: AppFactory, gate: Gate) -> Iterator[Flask]:
    if request.param == "sqlite":
        app = make_app()
    else:
        app = make_app(request.getfixturevalue("webapp_pg_url"))
    yield _effect_app(app, gate)
    gate.release.set()


def _effects(app: Flask, user_id: int) -> int:
    with app.app_context(), session_factory()() as db:
        return int(
            db.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.action == "test.effect", AuditLog.actor == f"user:{user_id}")
            )
            or 0
        )


def _post(app: Flask, token: str, body: dict[str, Any], key: str | None) -> Any:
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    return app.test_client().post("/api/v1/test/effects", json=body, headers=headers)


def test_same_key_same_body_replays_the_first_response(effect_app: Flask) -> None:
    user = api_signup(effect_app.test_client())
    first = _post(effect_app, user["token"], {"a": 1, "b": [1, 2]}, "key-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # Same body with another key order and spacing: the same request.
    again = effect_app.test_client().post(
        "/api/v1/test/effects",
        data='{ "b": [1, 2],   "a": 1 }',
        content_type="application/json",
        headers={**bearer(user["token"]), "Idempotency-Key": "key-1"},
    )
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _effects(effect_app, user["user"]["id"]) == 1


def test_same_key_other_body_is_refused(effect_app: Flask) -> None:
    user = api_signup(effect_app.test_client())
    assert _post(effect_app, user["token"], {"amount": "10"}, "key-2").status_code == 201
    resp = _post(effect_app, user["token"], {"amount": "99"}, "key-2")
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "idempotency_key_reused"
    assert _effects(effect_app, user["user"]["id"]) == 1


def test_keys_are_scoped_per_user(effect_app: Flask) -> None:
    alice = api_signup(effect_app.test_client())
    bob = api_signup(effect_app.test_client())
    a = _post(effect_app, alice["token"], {"x": 1}, "shared-key")
    b = _post(effect_app, bob["token"], {"x": 1}, "shared-key")
    assert a.status_code == b.status_code == 201
    assert a.get_json()["effect_id"] != b.get_json()["effect_id"]
    assert "Idempotent-Replayed" not in b.headers
    assert _effects(effect_app, alice["user"]["id"]) == _effects(effect_app, bob["user"]["id"]) == 1


def test_a_concurrent_duplicate_gets_409(effect_app: Flask, gate: Gate) -> None:
    user = api_signup(effect_app.test_client())
    gate.hold = True
    results: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: results.setdefault(
            "first", _post(effect_app, user["token"], {"n": 1}, "slow-key")
        )
    )
    first.start()
    assert gate.entered.wait(timeout=10), "the first request never reached its handler"
    duplicate = _post(effect_app, user["token"], {"n": 1}, "slow-key")
    assert duplicate.status_code == 409
    assert duplicate.get_json()["error"]["code"] == "idempotency_key_in_use"
    gate.hold = False
    gate.release.set()
    first.join(timeout=10)
    assert results["first"].status_code == 201
    replay = _post(effect_app, user["token"], {"n": 1}, "slow-key")
    assert replay.status_code == 201 and replay.get_json() == results["first"].get_json()
    assert _effects(effect_app, user["user"]["id"]) == 1


def test_refusals_are_replayed_but_crashes_release_the_key(effect_app: Flask) -> None:
    user = api_signup(effect_app.test_client())
    refused = _post(effect_app, user["token"], {"fail": "refuse"}, "refuse-key")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "test_refused"
    again = _post(effect_app, user["token"], {"fail": "refuse"}, "refuse-key")
    assert again.get_json() == refused.get_json() and again.headers["Idempotent-Replayed"] == "true"

    crashed = _post(effect_app, user["token"], {"fail": "crash"}, "crash-key")
    assert crashed.status_code == 500
    with effect_app.app_context(), session_factory()() as db:
        assert (
            db.scalars(select(IdempotencyKey).where(IdempotencyKey.key == "crash-key")).first()
            is None
        )
    # The key is free again: a retry runs (and crashes) again rather than 409.
    assert _post(effect_app, user["token"], {"fail": "crash"}, "crash-key").status_code == 500


class ProcessDied(BaseException):
    """Stands for the process dying: no ``except Exception`` runs after it."""


def test_the_work_and_its_stored_response_commit_together(
    effect_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = api_signup(effect_app.test_client())

    def die(*_args: object) -> None:
        raise ProcessDied

    monkeypatch.setattr(api_idempotency, "_store", die)
    with pytest.raises(ProcessDied):
        _post(effect_app, user["token"], {"n": 1}, "torn-key")
    assert _effects(effect_app, user["user"]["id"]) == 0  # the work went with the response
    monkeypatch.undo()
    # As a crash leaves it: the claim without a response, so a retry waits ...
    assert _post(effect_app, user["token"], {"n": 1}, "torn-key").status_code == 409
    with effect_app.app_context(), session_factory()() as db:
        db.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "torn-key")
            .values(created_at=utcnow() - STALE_CLAIM - timedelta(minutes=1))
        )
        db.commit()
    # ... until the claim is stale; then it runs once, and only once.
    assert _post(effect_app, user["token"], {"n": 1}, "torn-key").status_code == 201
    replay = _post(effect_app, user["token"], {"n": 1}, "torn-key")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert _effects(effect_app, user["user"]["id"]) == 1


def test_a_failed_commit_keeps_nothing_and_frees_the_key(
    effect_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = api_signup(effect_app.test_client())

    def refuse_commit(*_args: object) -> None:
        raise RuntimeError("the database refused the commit")

    monkeypatch.setattr(api_idempotency, "_store", refuse_commit)
    assert _post(effect_app, user["token"], {"n": 2}, "failed-key").status_code == 500
    assert _effects(effect_app, user["user"]["id"]) == 0
    monkeypatch.undo()
    # Nothing was kept, so a retry runs at once (not 409 for STALE_CLAIM).
    assert _post(effect_app, user["token"], {"n": 2}, "failed-key").status_code == 201
    assert _effects(effect_app, user["user"]["id"]) == 1


def test_a_refusal_after_the_work_commits_the_work_with_the_refusal(effect_app: Flask) -> None:
    user = api_signup(effect_app.test_client())
    refused = _post(effect_app, user["token"], {"fail": "after"}, "after-key")
    assert refused.status_code == 400
    assert _effects(effect_app, user["user"]["id"]) == 1  # as a sanctions refusal keeps its case
    again = _post(effect_app, user["token"], {"fail": "after"}, "after-key")
    assert again.get_json() == refused.get_json() and again.headers["Idempotent-Replayed"] == "true"
    inside = _post(effect_app, user["token"], {"fail": "inside"}, "inside-key")
    assert inside.status_code == 400
    assert _effects(effect_app, user["user"]["id"]) == 1  # a refusal inside keeps nothing


@pytest.mark.parametrize("key", [None, "effect-key"])
def test_after_commit_effects_see_the_committed_work(
    effect_app: Flask, gate: Gate, key: str | None
) -> None:
    user = api_signup(effect_app.test_client())
    assert _post(effect_app, user["token"], {"after_commit": True}, key).status_code == 201
    # Another session already saw the row: the effect ran after the commit, not before.
    assert gate.seen_after_commit == [1]
    other_key = None if key is None else key + "-refused"
    refused = _post(effect_app, user["token"], {"after_commit": True, "fail": "inside"}, other_key)
    assert refused.status_code == 400
    assert gate.seen_after_commit == [1]  # the work rolled back: its effect never ran
    assert _effects(effect_app, user["user"]["id"]) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_malformed_keys_are_refused(effect_app: Flask, key: str) -> None:
    user = api_signup(effect_app.test_client())
    resp = _post(effect_app, user["token"], {"a": 1}, key)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_idempotency_key"
    assert _effects(effect_app, user["user"]["id"]) == 0


def test_without_a_key_every_request_runs(effect_app: Flask) -> None:
    user = api_signup(effect_app.test_client())
    for _ in range(2):
        assert _post(effect_app, user["token"], {"a": 1}, None).status_code == 201
    assert _effects(effect_app, user["user"]["id"]) == 2


def test_idempotent_token_revocation(effect_app: Flask) -> None:
    client = effect_app.test_client()
    email = unique_email()
    token = api_signup(client, email)["token"]
    spare = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    spare_token = spare.get_json()["token"]
    listed = client.get("/api/v1/auth/tokens", headers=bearer(token)).get_json()["tokens"]
    spare_id = next(
        t["id"] for t in listed if spare_token.startswith(t["prefix"]) and t["name"] == "api"
    )
    headers = {**bearer(token), "Idempotency-Key": "revoke-1"}
    first = client.delete(f"/api/v1/auth/tokens/{spare_id}", headers=headers)
    assert first.status_code == 204
    retry = client.delete(f"/api/v1/auth/tokens/{spare_id}", headers=headers)
    assert retry.status_code == 204 and retry.headers["Idempotent-Replayed"] == "true"
    # Without the key the second revocation is a plain "no such token".
    assert (
        client.delete(f"/api/v1/auth/tokens/{spare_id}", headers=bearer(token)).status_code == 404
    )
    assert client.get("/api/v1/wallet", headers=bearer(spare_token)).status_code == 401
