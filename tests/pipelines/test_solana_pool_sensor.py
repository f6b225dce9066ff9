"""The Solana pool sensor (signer side) with build_sensor_context: it tops the pool up
to its target with addresses derived from the real seed, adds nothing when full, and
a wrong master key fills nothing and says why."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import dagster as dg
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

import pipelines.resources
from pipelines.resources import WalletDatabase
from sensors import addresses as pool
from tests.chains.helpers import Custody, make_custody
from tests.webapp.conftest import settings_for
from wallet.assets import Chain, ChainFamily
from wallet.custody import hd
from wallet.custody.addresses import FIRST_USER_INDEX
from wallet.db.models import Role, User, WalletAddress
from wallet.db.models.users import AddressPurpose
from wallet.db.session import transaction


def _free(world: Custody) -> int:
    with world.factory() as session:
        return (
            session.scalar(
                select(func.count(WalletAddress.id)).where(
                    WalletAddress.chain == Chain.SOLANA.value,
                    WalletAddress.purpose == AddressPurpose.DEPOSIT,
                    WalletAddress.user_id.is_(None),
                )
            )
            or 0
        )


def _tick(url: str, master: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    key = SecretStr(base64.b64encode(master).decode())
    settings = settings_for(tmp_path, url, wallet_master_key=key)
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: settings)
    result = pool.solana_pool_sensor(
        dg.build_sensor_context(resources={"db": WalletDatabase(database_url=url)})
    )
    assert isinstance(result, dg.SkipReason)
    return result.skip_message or ""


def test_pool_is_topped_up_to_target_from_the_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool, "SOLANA_POOL_TARGET", 5)
    world = make_custody(tmp_path / "s.db")
    url = f"sqlite:///{tmp_path / 's.db'}"

    assert "added 5" in _tick(url, world.master, tmp_path, monkeypatch)
    assert _free(world) == 5
    with world.factory() as session:
        seed = world.vault.seed(session, ChainFamily.SOLANA)
        first = session.scalars(
            select(WalletAddress).where(WalletAddress.derivation_index == FIRST_USER_INDEX)
        ).one()
        assert first.address == hd.solana_address(seed, FIRST_USER_INDEX)

    assert "added 0" in _tick(url, world.master, tmp_path, monkeypatch)  # already full
    with transaction(world.factory) as session:  # two payments take addresses
        payer = User(email="payer@example.com", password_hash="x", role=Role.PAYER)
        session.add(payer)
        session.flush()
        taken = session.scalars(
            select(WalletAddress.id).where(WalletAddress.purpose == AddressPurpose.DEPOSIT)
        ).all()[:2]
        session.execute(
            update(WalletAddress).where(WalletAddress.id.in_(taken)).values(user_id=payer.id)
        )
    assert "added 2" in _tick(url, world.master, tmp_path, monkeypatch)
    assert _free(world) == 5


def test_wrong_master_key_fills_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_custody(tmp_path / "s.db")
    url = f"sqlite:///{tmp_path / 's.db'}"
    message = _tick(url, os.urandom(32), tmp_path, monkeypatch)
    assert "not filled" in message
    assert _free(world) == 0
