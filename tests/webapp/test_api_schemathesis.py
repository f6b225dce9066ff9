"""schemathesis over ``/api/v1/openapi.json`` against the Flask app over WSGI (issue 9).

Every operation, with all of schemathesis's checks: no 5xx, responses and
status codes that match the document, negative data rejected, and (the
``ignored_auth`` check) each secured operation re-sent without credentials
and with invalid ones must be refused. Each example runs as a fresh payer
(or merchant, for ``/merchant``) with a funded wallet and its own token, so
``logout-everywhere`` or a revoked token cannot poison later examples.
Afterwards the ledger invariants must still hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.webapp.pay_support import PriceBoard, build_app, fund
from wallet.accounts.tokens import issue_token
from wallet.assets import ChainFamily
from wallet.chains.networks import NetworkKind
from wallet.custody.addresses import fill_solana_pool
from wallet.custody.kms import LocalKeyManager
from wallet.custody.vault import SeedVault
from wallet.db.models.users import Merchant, Role, User
from wallet.devkeys import master_key
from wallet.ledger import check_invariants
from webapp import extensions
from webapp.extensions import session_factory

# ~22 operations × MAX_EXAMPLES × 2 modes: about 15 s on SQLite, so not marked slow.
MAX_EXAMPLES = 10
# positive_data_acceptance is the one check left out: it demands 2xx for any
# body the JSON Schema allows, but some rules are semantic and answered with a
# documented 400 (a UPI code that does not parse, an address whose checksum
# fails, an e-mail with no domain). Every other check runs, incl. ignored_auth
# (each secured operation re-sent unauthenticated and with invalid credentials).
EXCLUDED_CHECKS = [positive_data_acceptance]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    # Rate limits off: they would turn the fuzzer's burst into 429s and test nothing else.
    app = build_app(tmp_path_factory.mktemp("fuzz"), PriceBoard(), RATELIMIT_ENABLED=False)
    with app.app_context():
        # Custody as in production: a seed per chain family and a stocked Solana
        # pool (each example is a new payer asking for its own address).
        vault = SeedVault(LocalKeyManager(master_key(extensions.settings())), NetworkKind.SANDBOX)
        with session_factory()() as db, db.begin():
            for family in (f for f in ChainFamily if f is not ChainFamily.FIAT):
                vault.create_seed(db, family)
            fill_solana_pool(db, vault, 4 * MAX_EXAMPLES * 3)
    yield app
    app.extensions["engine"].dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def _fresh_token(app: Flask, role: Role) -> str:
    with app.app_context(), session_factory()() as db, db.begin():
        user = User(email=f"fz{uuid.uuid4().hex[:10]}@example.com", password_hash="x", role=role)
        user.kyc_tier = 2
        db.add(user)
        db.flush()
        if role is Role.MERCHANT:
            db.add(Merchant(user_id=user.id, display_name="Fuzz Shop", upi_vpa="fuzz@okaxis"))
        token = issue_token(db, user, "fuzz").token
        user_id = user.id
    fund(app, user_id, "SOL", 1_000_000_000)
    return token


def _operations(api_schema: Any) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


# Driven with Hypothesis directly: schemathesis's pytest plugin (from_fixture)
# does not run under the pytest 9 in the lock ("'Function' object has no
# attribute '_nodeid'").
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(
    fuzz_app: Flask, api_schema: Any, mode: GenerationMode
) -> None:
    failures: list[str] = []
    for operation in _operations(api_schema):
        role = Role.MERCHANT if operation.path.startswith("/merchant") else Role.PAYER
        try:
            _fuzz(fuzz_app, operation, mode, role)
        except (AssertionError, FailureGroup) as exc:  # collected, reported together below
            detail = "; ".join(str(e).splitlines()[0] for e in getattr(exc, "exceptions", [exc]))
            failures.append(f"{operation.method.upper()} {operation.path}: {detail}\n{exc}")
    assert not failures, "\n\n".join(failures)


def _fuzz(app: Flask, operation: Any, mode: GenerationMode, role: Role) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # reproducible; raise MAX_EXAMPLES locally to explore
        database=None,
    )
    def run(case: Any) -> None:
        token = _fresh_token(app, role)
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, excluded_checks=EXCLUDED_CHECKS
        )

    run()


def test_ledger_invariants_hold_after_the_fuzzing(fuzz_app: Flask) -> None:
    with fuzz_app.app_context(), session_factory()() as db:
        check_invariants(db)


def test_the_fuzzer_sees_every_operation(api_schema: Any) -> None:
    ops = _operations(api_schema)
    paths = {op.path for op in ops}
    assert {"/payments", "/quotes", "/withdrawals", "/auth/signup"} <= paths
    assert len(ops) >= 20


def test_an_id_past_bigint_is_not_found_not_a_server_error(fuzz_app: Flask) -> None:
    """Regression for the fuzzer's first find: 2**63 overflowed the database driver."""
    token = _fresh_token(fuzz_app, Role.PAYER)
    client = fuzz_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/auth/sessions/", "/auth/tokens/"):
        resp = client.delete(f"/api/v1{path}{2**63}", headers=headers)
        assert resp.status_code == 404, (path, resp.status_code)
    assert client.get(f"/api/v1/withdrawals/{2**63}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/auth/tokens/{2**63 - 1}", headers=headers).status_code == 404
