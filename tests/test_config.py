"""Settings precedence and generated dev keys."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from wallet.config import Settings
from wallet.devkeys import master_key, session_secret
from wallet.errors import ConfigurationError


def test_sandbox_endpoints_file_feeds_settings_below_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(
        json.dumps(
            {
                "settings": {
                    "eth_rpc_url": "http://127.0.0.1:1111",
                    "sol_rpc_url": "http://127.0.0.1:2222",
                    "token_contracts": {"USDC": "0xabc"},
                    "not_a_field": 1,
                }
            }
        )
    )
    monkeypatch.setenv("SANDBOX_ENDPOINTS_FILE", str(endpoints))
    monkeypatch.setenv("SOL_RPC_URL", "http://127.0.0.1:3333")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.eth_rpc_url == "http://127.0.0.1:1111"
    assert settings.sol_rpc_url == "http://127.0.0.1:3333"
    assert settings.token_contracts == {"USDC": "0xabc"}


def test_default_database_is_sqlite_under_var(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, database_url="")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/taskforce.db"


def test_dev_keys_are_generated_once_and_stable(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, environment="dev")
    first = master_key(settings)
    assert len(first) == 32
    assert master_key(settings) == first
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    assert session_secret(settings) != first


def test_production_requires_explicit_keys(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, environment="production")
    with pytest.raises(ConfigurationError):
        master_key(settings)
    assert not (tmp_path / "master.key").exists()
    good = base64.b64encode(b"k" * 32).decode()
    settings = Settings(var_dir=tmp_path, environment="production", wallet_master_key=good)
    assert master_key(settings) == b"k" * 32
    short = Settings(var_dir=tmp_path, wallet_master_key=SecretStr("c2hvcnQ="))
    with pytest.raises(ConfigurationError):
        master_key(short)
