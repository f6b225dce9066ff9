"""Master-key rotation over every sealed secret (issue 9), on SQLite and PostgreSQL.

Each kind of secret is sealed under key A through its owner's own code, the
platform rotates to key B with A as a previous key, and afterwards every row
names B, payloads are byte-for-byte the same, and B alone opens everything.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import wallet.db.all_models  # noqa: F401 - registers every table
from tests.custody.rotation_support import (
    SEALED_TABLES,
    b64,
    clear_sealed,
    key_ids,
    key_texts,
    open_each_kind,
    payloads,
    read_everything,
    seal_everything,
)
from tests.pg import migrated_schema
from wallet.assets import ChainFamily
from wallet.chains.networks import NetworkKind
from wallet.config import Settings
from wallet.custody.errors import DecryptionFailed, KeyUnavailable
from wallet.custody.kms import LocalKeyManager, key_fingerprint
from wallet.custody.rotation import TABLES, remaining, rotate_all
from wallet.custody.vault import SeedVault
from wallet.db.base import Base
from wallet.db.models.ops import AuditLog
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.devkeys import platform_kms, previous_master_keys
from wallet.errors import ConfigurationError
from wallet.merchants import sealed
from wallet.merchants.models import WebhookEndpoint


@pytest.fixture(scope="module")
def pg_rotation_url() -> Iterator[str]:
    """A PostgreSQL schema of this module's own at head: rotation is whole-table by
    nature, so it must not meet rows other tests sealed under their own keys."""
    with migrated_schema(prefix="rot") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'rot.db'}")
        Base.metadata.create_all(engine)
    else:
        engine = make_engine(request.getfixturevalue("pg_rotation_url"))
    made = make_session_factory(engine)
    clear_sealed(made)
    yield made
    engine.dispose()


def _no_key_material(text_: str, *keys: bytes) -> None:
    for form in key_texts(*keys):
        assert form not in text_


def test_rotation_rewraps_every_sealed_secret_and_keeps_the_payloads(
    factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    kms_a, only_b = LocalKeyManager(key_a), LocalKeyManager(key_b)
    sealed_under_a = seal_everything(factory, kms_a)
    before = payloads(factory)
    assert all(ids == {kms_a.key_id} for ids in key_ids(factory).values())

    # A process started with only the new key can open no kind of secret yet.
    refusals = open_each_kind(factory, only_b)
    assert set(refusals) == {"seed", "webhook", "exchange", "bank"}
    for refusal in refusals.values():
        assert isinstance(refusal, KeyUnavailable)
        assert refusal.message == f"master key {kms_a.key_id} is not configured"
        _no_key_material(str(refusal), key_a, key_b)

    rotating = LocalKeyManager(key_b, previous=[key_a])
    with caplog.at_level(logging.DEBUG):
        report = rotate_all(factory, rotating, batch_size=2, actor="system:test")

    assert report.counts == {
        "custody_keys": 3,
        "webhook_endpoints": 6,
        "exchange_accounts": 4,
        "merchant_bank_accounts": 3,
    }
    assert report.total == 3 + sealed_under_a.sealed_values
    assert report.from_key_ids == (kms_a.key_id,)
    assert all(ids == {only_b.key_id} for ids in key_ids(factory).values())
    assert payloads(factory) == before  # payload nonces and ciphertexts untouched
    assert read_everything(factory, only_b) == sealed_under_a
    # The old key alone no longer opens anything.
    assert all(isinstance(e, KeyUnavailable) for e in open_each_kind(factory, kms_a).values())
    assert len(open_each_kind(factory, kms_a)) == 4
    _no_key_material(caplog.text, key_a, key_b)
    for secret in sealed_under_a.webhook.values():
        assert secret not in caplog.text

    with factory() as s:
        audit = s.scalars(
            select(AuditLog).where(
                AuditLog.action == "master_key.rotated", AuditLog.subject_id == only_b.key_id
            )
        ).one()
        assert remaining(s, only_b.key_id) == {t: {} for t in TABLES}
    assert audit.subject_id == only_b.key_id
    assert audit.data["counts"] == report.counts
    assert audit.data["from_key_ids"] == [kms_a.key_id]
    _no_key_material(str(audit.data), key_a, key_b)

    again = rotate_all(factory, rotating, batch_size=2)
    assert again.counts == dict.fromkeys(TABLES, 0)
    assert payloads(factory) == before


def test_a_crash_mid_rotation_is_finished_by_a_re_run(factory: sessionmaker[Session]) -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    sealed_under_a = seal_everything(factory, LocalKeyManager(key_a))
    rotating = LocalKeyManager(key_b, previous=[key_a])
    batches: list[tuple[str, int]] = []

    def crash_after_first_webhook_batch(table: str, rows: int) -> None:
        batches.append((table, rows))
        if table == "webhook_endpoints":
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        rotate_all(factory, rotating, batch_size=2, after_batch=crash_after_first_webhook_batch)
    assert batches == [("custody_keys", 3), ("webhook_endpoints", 2)]
    with factory() as s:
        left = remaining(s, rotating.key_id)
    old_id = key_fingerprint(key_a)
    # The committed batch stays re-wrapped; the rest still names the old key.
    assert left == {
        "custody_keys": {},
        "webhook_endpoints": {old_id: 4},
        "exchange_accounts": {old_id: 4},
        "merchant_bank_accounts": {old_id: 3},
    }
    # Mixed state: the platform's KMS (new + previous) opens every row.
    assert read_everything(factory, rotating) == sealed_under_a

    finished = rotate_all(factory, rotating, batch_size=2)
    assert finished.counts == {
        "custody_keys": 0,
        "webhook_endpoints": 4,
        "exchange_accounts": 4,
        "merchant_bank_accounts": 3,
    }
    assert all(ids == {rotating.key_id} for ids in key_ids(factory).values())
    assert read_everything(factory, LocalKeyManager(key_b)) == sealed_under_a


def test_a_value_moved_to_another_row_stops_rotation_without_leaking(
    factory: sessionmaker[Session],
) -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    seal_everything(factory, LocalKeyManager(key_a), merchants=1)
    with transaction(factory) as s:
        first, second = s.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
        second.secret_sealed = first.secret_sealed  # bound to first's public id
        second_id = second.id
    with pytest.raises(DecryptionFailed) as info:
        rotate_all(factory, LocalKeyManager(key_b, previous=[key_a]), batch_size=10)
    assert f"webhook_endpoints row {second_id}" in info.value.message
    assert info.value.code == "custody_decryption_failed"
    _no_key_material(str(info.value), key_a, key_b)
    # The batch holding the bad row rolled back whole.
    assert key_ids(factory)["webhook_endpoints"] == {key_fingerprint(key_a)}


def test_without_the_old_key_rotation_names_the_key_id_only(
    factory: sessionmaker[Session],
) -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    seal_everything(factory, LocalKeyManager(key_a), merchants=1)
    with pytest.raises(KeyUnavailable) as info:
        rotate_all(factory, LocalKeyManager(key_b))
    assert key_fingerprint(key_a) in info.value.message
    assert info.value.message.startswith("custody_keys:")
    _no_key_material(str(info.value), key_a, key_b)
    assert key_ids(factory)["custody_keys"] == {key_fingerprint(key_a)}


# --- the sealed-string primitive ----------------------------------------------------


def test_rewrap_changes_only_the_wrapping_and_keeps_the_context_binding() -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    value = sealed.seal(LocalKeyManager(key_a), "whsec_abc", "merchant-webhook-secret:we_1")
    rotating = LocalKeyManager(key_b, previous=[key_a])
    new = sealed.rewrap(rotating, value, "merchant-webhook-secret:we_1")
    old_parts, new_parts = value.split("."), new.split(".")
    assert new_parts[0] == "v1" and new_parts[1] == rotating.key_id
    assert new_parts[2:4] != old_parts[2:4]
    assert new_parts[4:] == old_parts[4:]
    assert sealed.unseal(LocalKeyManager(key_b), new, "merchant-webhook-secret:we_1").reveal() == (
        b"whsec_abc"
    )
    with pytest.raises(DecryptionFailed):
        sealed.unseal(LocalKeyManager(key_b), new, "merchant-webhook-secret:we_2")
    with pytest.raises(DecryptionFailed):
        sealed.rewrap(rotating, value, "merchant-webhook-secret:we_2")
    assert sealed.rewrap(rotating, new, "merchant-webhook-secret:we_1") == new  # no-op


# --- configuration: previous keys and the one KMS every process builds ----------------


def test_platform_kms_unwraps_with_previous_keys_from_env_or_dev_file(tmp_path: Path) -> None:
    key_a, key_b, key_c = os.urandom(32), os.urandom(32), os.urandom(32)
    value = sealed.seal(LocalKeyManager(key_a), "secret", "ctx")
    production = Settings(
        environment="production",
        var_dir=tmp_path,
        wallet_master_key=SecretStr(b64(key_b)),
        wallet_previous_master_keys=SecretStr(f"{b64(key_c)}, {b64(key_a)}"),
    )
    assert previous_master_keys(production) == [key_c, key_a]
    kms = platform_kms(production)
    assert kms.key_id == key_fingerprint(key_b)
    assert sealed.unseal(kms, value, "ctx").reveal() == b"secret"

    (tmp_path / "master.previous.keys").write_text(b64(key_a) + "\n")
    dev = Settings(environment="dev", var_dir=tmp_path, wallet_master_key=SecretStr(b64(key_b)))
    assert sealed.unseal(platform_kms(dev), value, "ctx").reveal() == b"secret"
    # Production never reads the dev file.
    prod_no_env = production.model_copy(update={"wallet_previous_master_keys": None})
    assert previous_master_keys(prod_no_env) == []
    with pytest.raises(KeyUnavailable):
        sealed.unseal(platform_kms(prod_no_env), value, "ctx")


def test_a_bad_previous_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    good = b64(os.urandom(32))
    short = base64.b64encode(b"0123456789").decode()
    settings = Settings(
        var_dir=tmp_path,
        wallet_master_key=SecretStr(good),
        wallet_previous_master_keys=SecretStr(f"{good},{short}"),
    )
    with pytest.raises(ConfigurationError) as info:
        platform_kms(settings)
    assert "entry 2" in info.value.message
    assert short not in str(info.value) and good not in str(info.value)
    (tmp_path / "master.previous.keys").write_text("not base64!\n")
    with pytest.raises(ConfigurationError) as info:
        previous_master_keys(Settings(var_dir=tmp_path, wallet_master_key=SecretStr(good)))
    assert "not base64" not in str(info.value)


def test_seed_vault_over_platform_kms_reads_a_seed_wrapped_by_a_previous_key(
    tmp_path: Path,
) -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    Base.metadata.create_all(engine)
    made = make_session_factory(engine)
    with transaction(made) as s:
        SeedVault(LocalKeyManager(key_a), NetworkKind.SANDBOX).create_seed(s, ChainFamily.EVM)
    settings = Settings(
        environment="production",
        var_dir=tmp_path,
        wallet_master_key=SecretStr(b64(key_b)),
        wallet_previous_master_keys=SecretStr(b64(key_a)),
    )
    with made() as s:
        seed = SeedVault(platform_kms(settings), NetworkKind.SANDBOX).seed(s, ChainFamily.EVM)
        assert seed == SeedVault(LocalKeyManager(key_a), NetworkKind.SANDBOX).seed(
            s, ChainFamily.EVM
        )
    engine.dispose()


def test_every_sealed_table_is_covered() -> None:
    """A new ``*_sealed`` column must join the rotation (or this test says so)."""
    sealed_columns = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_sealed")
    }
    from wallet.custody.rotation import SEALED_TABLES as ROTATED

    covered = {f"{t.name}.{f.column}" for t in ROTATED for f in t.fields}
    assert sealed_columns == covered
    assert {t.name for t in ROTATED} == set(SEALED_TABLES)
