"""``taskforce rotate-master-key``: dev ``--generate``, production keys from the
environment, ``--check`` exit codes, an audit row, and never a key in its output."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import wallet.db.all_models  # noqa: F401 - registers every table
from taskforce.cli import main
from tests.custody.rotation_support import (
    b64,
    key_ids,
    key_texts,
    payloads,
    read_everything,
    seal_everything,
)
from wallet.config import Settings
from wallet.custody.kms import LocalKeyManager, key_fingerprint
from wallet.db.base import Base
from wallet.db.models.ops import AuditLog
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.devkeys import generate_dev_master_key, master_key
from wallet.merchants import sealed, webhooks
from wallet.merchants.models import WebhookEndpoint

ENV_NAMES = (
    "WALLET_MASTER_KEY",
    "WALLET_PREVIOUS_MASTER_KEYS",
    "DATABASE_URL",
    "ENVIRONMENT",
    "VAR_DIR",
    "SANDBOX_ENDPOINTS_FILE",
)


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dev tree of its own: VAR_DIR with an SQLite database at every table, no .env."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    var = tmp_path / "var"
    monkeypatch.chdir(tmp_path)  # no .env of the checkout is read
    monkeypatch.setenv("VAR_DIR", str(var))
    monkeypatch.setenv("SANDBOX_ENDPOINTS_FILE", str(tmp_path / "no-endpoints.json"))
    engine = make_engine(f"sqlite:///{var / 'taskforce.db'}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return var


def _factory(var: Path) -> sessionmaker[Session]:
    return make_session_factory(make_engine(f"sqlite:///{var / 'taskforce.db'}"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["rotate-master-key", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_dev_generate_then_check(var_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = master_key(Settings(var_dir=var_dir))  # the dev key the tree started with
    factory = _factory(var_dir)
    secrets_ = seal_everything(factory, LocalKeyManager(old), merchants=2)
    before = payloads(factory)
    output: list[str] = []

    code, out = _run(capsys, "--check")
    output.append(out)
    assert code == 0 and "total: 0 sealed values" in out

    code, out = _run(capsys, "--generate", "--batch-size", "2")
    output.append(out)
    assert code == 0, out
    new = master_key(Settings(var_dir=var_dir))
    assert new != old
    assert f"current master key: {key_fingerprint(new)}" in out
    assert f"re-wrapped from: {key_fingerprint(old)}" in out
    assert "total: 13 re-wrapped" in out  # 3 seeds + 4 endpoints + 4 venue values + 2 accounts
    previous = var_dir / "master.previous.keys"
    assert previous.read_text().split() == [b64(old)]
    assert previous.stat().st_mode & 0o777 == 0o600
    assert (var_dir / "master.key").stat().st_mode & 0o777 == 0o600
    assert all(ids == {key_fingerprint(new)} for ids in key_ids(factory).values())
    assert payloads(factory) == before
    assert read_everything(factory, LocalKeyManager(new)) == secrets_

    with factory() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "master_key.rotated")).one()
    assert audit.actor == "system:rotate-master-key"
    assert audit.data["total"] == 13 and audit.data["from_key_ids"] == [key_fingerprint(old)]

    code, out = _run(capsys, "--check")
    output.append(out)
    assert code == 0 and "can be dropped" in out

    # A value sealed by a process still on the old key: --check flags it, a run fixes it.
    with transaction(factory) as s:
        endpoint = s.scalars(select(WebhookEndpoint)).first()
        assert endpoint is not None
        secret = secrets_.webhook[endpoint.public_id]
        endpoint.secret_sealed = sealed.seal(
            LocalKeyManager(old), secret, webhooks._context(endpoint.public_id)
        )
    code, out = _run(capsys, "--check")
    output.append(out)
    assert code == 1
    assert f"1 to re-wrap 1 under {key_fingerprint(old)}" in out
    code, out = _run(capsys)
    output.append(out)
    assert code == 0 and "total: 1 re-wrapped" in out
    code, out = _run(capsys, "--check")
    output.append(out)
    assert code == 0

    # A second --generate retires the current key too; both stay readable meanwhile.
    code, out = _run(capsys, "--generate")
    output.append(out)
    assert code == 0
    newest = master_key(Settings(var_dir=var_dir))
    assert previous.read_text().split() == [b64(old), b64(new)]
    assert read_everything(factory, LocalKeyManager(newest)) == secrets_

    for text in output:
        for form in key_texts(old, new, newest):
            assert form not in text


def test_production_mode_uses_the_environment_and_refuses_generate(
    var_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    factory = _factory(var_dir)
    secrets_ = seal_everything(factory, LocalKeyManager(key_a), merchants=1)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("WALLET_MASTER_KEY", b64(key_b))
    output: list[str] = []

    code, out = _run(capsys, "--generate")
    output.append(out)
    assert code == 1 and "configuration_error" in out
    assert not (var_dir / "master.key").exists()

    # The old key is not configured: nothing is touched, and the operator is told why.
    code, out = _run(capsys)
    output.append(out)
    assert code == 1 and "not configured" in out and key_fingerprint(key_a) in out
    assert key_ids(factory)["custody_keys"] == {key_fingerprint(key_a)}

    code, out = _run(capsys, "--check")
    output.append(out)
    assert code == 1 and "total: 10 sealed values" in out

    monkeypatch.setenv("WALLET_PREVIOUS_MASTER_KEYS", b64(key_a))
    code, out = _run(capsys)
    output.append(out)
    assert code == 0 and "total: 10 re-wrapped" in out
    assert f"previous master keys: {key_fingerprint(key_a)}" in out
    code, out = _run(capsys, "--check")
    output.append(out)
    assert code == 0
    code, out = _run(capsys)  # re-run: a no-op
    output.append(out)
    assert code == 0 and "total: 0 re-wrapped" in out

    monkeypatch.delenv("WALLET_PREVIOUS_MASTER_KEYS")
    assert read_everything(factory, LocalKeyManager(key_b)) == secrets_
    for text in output:
        for form in key_texts(key_a, key_b):
            assert form not in text


def test_the_installed_command_generates_and_checks(var_dir: Path, tmp_path: Path) -> None:
    """The real entry point in a subprocess: exit codes and output as an operator sees them."""
    old = master_key(Settings(var_dir=var_dir))
    factory = _factory(var_dir)
    seal_everything(factory, LocalKeyManager(old), merchants=1)
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env |= {"VAR_DIR": str(var_dir), "SANDBOX_ENDPOINTS_FILE": str(tmp_path / "none.json")}
    command = [str(Path(sys.executable).parent / "taskforce"), "rotate-master-key"]

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )

    generated = run("--generate")
    assert generated.returncode == 0, generated.stderr
    new = master_key(Settings(var_dir=var_dir))
    checked = run("--check")
    assert checked.returncode == 0
    assert f"current master key: {key_fingerprint(new)}" in checked.stdout
    bad = run("--batch-size", "0")
    assert bad.returncode == 2  # argparse refuses it before anything runs

    # Leave one value under the old key: --check fails until a run re-wraps it.
    with transaction(factory) as s:
        endpoint = s.scalars(select(WebhookEndpoint)).first()
        assert endpoint is not None
        endpoint.secret_sealed = rewrapped_back(endpoint, old, new)
    assert run("--check").returncode == 1
    assert run().returncode == 0
    assert run("--check").returncode == 0
    for result in (generated, checked, bad):
        for form in key_texts(old, new):
            assert form not in result.stdout + result.stderr


def rewrapped_back(endpoint: WebhookEndpoint, old: bytes, new: bytes) -> str:
    """The endpoint's sealed secret wrapped under ``old`` again (a straggler)."""
    return sealed.rewrap(
        LocalKeyManager(old, previous=[new]),
        endpoint.secret_sealed,
        webhooks._context(endpoint.public_id),
    )


def test_generated_keys_are_valid_base64(var_dir: Path) -> None:
    old_id, new_id = generate_dev_master_key(Settings(var_dir=var_dir))
    assert old_id != new_id
    raw = (var_dir / "master.key").read_bytes()
    assert len(base64.b64decode(raw, validate=True)) == 32
    assert key_fingerprint(base64.b64decode(raw)) == new_id
