"""The whole sandbox through the `taskforce sandbox` command, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sandbox.manager import SPECS, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _cli(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "-m", "taskforce", "sandbox", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def sandbox_var(tmp_path_factory: pytest.TempPathFactory) -> object:
    var_dir = tmp_path_factory.mktemp("var")
    ports = ",".join(f"{name}={free_port()}" for name in SPECS)
    up = _cli(var_dir, "up", "--ports", ports)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield var_dir
    finally:
        endpoints = var_dir / "sandbox" / "endpoints.json"
        pids = [e["pid"] for e in json.loads(endpoints.read_text())["stand_ins"].values()]
        down = _cli(var_dir, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert not endpoints.exists()
        assert [pid for pid in pids if _alive(pid)] == [], "stand-ins left running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for every practical purpose.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_status_json_lists_every_stand_in_healthy(sandbox_var: Path) -> None:
    status = _cli(sandbox_var, "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert set(report) == set(SPECS)
    for name, entry in report.items():
        assert entry["healthy"], name
        assert entry["url"].startswith("http://127.0.0.1:")
    assert {"USDC", "SHIB", "PEPE"} <= set(report["ethereum"]["tokens"])
    assert {"USDC-SPL", "BONK"} <= set(report["solana"]["tokens"])
    assert report["razorpayx"]["credentials"]["key_id"]
    settings = json.loads((sandbox_var / "sandbox" / "endpoints.json").read_text())["settings"]
    assert settings["eth_rpc_url"] == report["ethereum"]["url"]
    assert {"USDC", "USDC-SPL", "BONK"} <= set(settings["token_contracts"])


@pytest.mark.parametrize(
    ("asset", "address_kind"),
    [
        ("ETH", "evm"),
        ("USDC", "evm"),
        ("SOL", "solana"),
        ("BONK", "solana"),
        ("BTC", "bitcoin"),
        ("DOGE", "dogecoin"),
    ],
)
def test_fund_delivers_on_chain(sandbox_var: Path, asset: str, address_kind: str) -> None:
    address = _fresh_address(address_kind)
    result = _cli(sandbox_var, "fund", address, asset, "1.5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["txid"]


def test_faults_toggle_and_show_in_status(sandbox_var: Path) -> None:
    on = _cli(sandbox_var, "fault", "razorpayx", "error_next=1")
    assert on.returncode == 0, on.stderr
    report = json.loads(_cli(sandbox_var, "status", "--json").stdout)
    assert "error" in report["razorpayx"]["faults"]
    url = report["razorpayx"]["url"]
    assert httpx.get(f"{url}/v1/payouts/pout_x", timeout=5).status_code == 503
    off = _cli(sandbox_var, "fault", "razorpayx", "--clear")
    assert off.returncode == 0
    report = json.loads(_cli(sandbox_var, "status", "--json").stdout)
    assert report["razorpayx"]["faults"] == []


def _fresh_address(kind: str) -> str:
    if kind == "evm":
        from eth_account import Account

        return str(Account.create().address)
    if kind == "solana":
        from solders.keypair import Keypair

        return str(Keypair().pubkey())
    from bitcoinlib.keys import HDKey

    network = "regtest" if kind == "bitcoin" else "dogecoin_testnet"
    witness = "segwit" if kind == "bitcoin" else "legacy"
    return str(HDKey(network=network, witness_type=witness).address())
