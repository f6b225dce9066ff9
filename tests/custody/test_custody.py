"""Key custody: envelope encryption, rotation, HD derivation vectors, the signer's
own limits, and no key material in logs, reprs, errors or the database."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest
from bip_utils import Bip39SeedGenerator
from sqlalchemy import select

from tests.chains.helpers import Custody, make_custody
from wallet.assets import Chain, ChainFamily
from wallet.chains.base import Purpose, TransferIntent, UtxoInput, UtxoOutput, UtxoPlan
from wallet.chains.networks import NetworkKind
from wallet.custody import hd
from wallet.custody.errors import (
    DailyCapExceeded,
    DecryptionFailed,
    DerivationError,
    DestinationNotAllowed,
    KeyUnavailable,
    PayloadMismatch,
    PerTransactionCapExceeded,
)
from wallet.custody.kms import LocalKeyManager, new_data_key
from wallet.custody.models import CustodyKey
from wallet.custody.secret import SecretBytes
from wallet.custody.vault import SeedVault, rotate_master_key
from wallet.db.models.users import AddressPurpose
from wallet.db.session import transaction

ABANDON = "abandon " * 11 + "about"
SOL_DEST = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"


@pytest.fixture
def world(tmp_path: Path) -> Custody:
    return make_custody(
        tmp_path / "c.db",
        {"ETH": 10**18, "USDC": 100 * 10**6, "BTC": 10**8, "SOL": 10**9},
        tokens={"USDC": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"},
        allowlist={"ethereum": frozenset({"0x000000000000000000000000000000000000dEaD"})},
    )


# --- KMS and vault ------------------------------------------------------------------


def test_wrapped_keys_are_bound_to_their_purpose_and_master_key() -> None:
    kms = LocalKeyManager(os.urandom(32))
    key = new_data_key()
    wrapped = kms.wrap(key, b"purpose-a")
    assert kms.unwrap(wrapped, b"purpose-a") == key
    with pytest.raises(DecryptionFailed) as info:
        kms.unwrap(wrapped, b"purpose-b")
    assert info.value.code == "custody_decryption_failed"
    tampered = type(wrapped)(
        wrapped.master_key_id, wrapped.nonce, bytes([1]) + wrapped.ciphertext[1:]
    )
    with pytest.raises(DecryptionFailed):
        kms.unwrap(tampered, b"purpose-a")
    with pytest.raises(KeyUnavailable):
        LocalKeyManager(os.urandom(32)).unwrap(wrapped, b"purpose-a")


def test_master_key_rotation_rewraps_data_keys_only(world: Custody) -> None:
    with transaction(world.factory) as s:
        before = {
            r.family: (r.seed_ciphertext, r.data_key_ciphertext)
            for r in s.scalars(select(CustodyKey))
        }
        seed_before = world.vault.seed(s, ChainFamily.EVM)
    new_master = os.urandom(32)
    rotating = LocalKeyManager(new_master, previous=[world.master])
    with transaction(world.factory) as s:
        assert rotate_master_key(s, rotating) == 3
        assert rotate_master_key(s, rotating) == 0  # re-run: nothing left to do
    with transaction(world.factory) as s:
        rows = {r.family: r for r in s.scalars(select(CustodyKey))}
        for family, (seed_ct, dk_ct) in before.items():
            assert rows[family].seed_ciphertext == seed_ct  # seeds untouched
            assert rows[family].data_key_ciphertext != dk_ct  # data keys re-wrapped
            assert rows[family].master_key_id == rotating.key_id
        assert (
            SeedVault(LocalKeyManager(new_master), NetworkKind.SANDBOX).seed(s, ChainFamily.EVM)
            == seed_before
        )
        with pytest.raises(KeyUnavailable):
            SeedVault(LocalKeyManager(world.master), NetworkKind.SANDBOX).seed(s, ChainFamily.EVM)


def test_a_seed_ciphertext_moved_to_another_family_does_not_decrypt(world: Custody) -> None:
    with transaction(world.factory) as s:
        rows = {r.family: r for r in s.scalars(select(CustodyKey))}
        evm, sol = rows["evm"], rows["solana"]
        evm.seed_ciphertext, evm.seed_nonce = sol.seed_ciphertext, sol.seed_nonce
        evm.data_key_ciphertext, evm.data_key_nonce = sol.data_key_ciphertext, sol.data_key_nonce
        s.flush()
        with pytest.raises(DecryptionFailed):
            world.vault.seed(s, ChainFamily.EVM)


# --- derivation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chain", "kind", "address"),
    [
        (Chain.ETHEREUM, NetworkKind.MAINNET, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"),
        (Chain.BITCOIN, NetworkKind.MAINNET, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"),
        (Chain.BITCOIN, NetworkKind.SANDBOX, "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"),
        (Chain.DOGECOIN, NetworkKind.MAINNET, "DBus3bamQjgJULBJtYXpEzDWQRwF5iwxgC"),
        (Chain.SOLANA, NetworkKind.MAINNET, "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"),
    ],
)
def test_derivation_matches_the_standard_test_vectors(
    chain: Chain, kind: NetworkKind, address: str
) -> None:
    """BIP39 "abandon … about" vectors as published for each wallet standard."""
    seed = SecretBytes(bytes(Bip39SeedGenerator(ABANDON).Generate()))
    assert hd.address_from_seed(seed, chain, kind, 0) == address
    xpub = hd.account_xpub(seed, chain, kind)
    if chain is Chain.SOLANA:
        assert xpub is None
        with pytest.raises(DerivationError):
            hd.public_address(chain, kind, "xpub-anything", 0)
    else:
        assert xpub is not None and hd.public_address(chain, kind, xpub, 0) == address


def test_web_tier_derives_from_xpubs_without_the_master_key(world: Custody, tmp_path: Path) -> None:
    uid = world.user("web@example.com")
    addr = world.address(Chain.BITCOIN, uid)
    # A key manager that cannot unwrap anything: public derivation must not need it.
    blind = SeedVault(LocalKeyManager(os.urandom(32)), NetworkKind.SANDBOX)
    with transaction(world.factory) as s:
        xpub = blind.xpub(s, Chain.BITCOIN)
        assert hd.public_address(Chain.BITCOIN, NetworkKind.SANDBOX, xpub, 16) == addr
        seed = world.vault.seed(s, ChainFamily.UTXO)
    assert hd.address_from_seed(seed, Chain.BITCOIN, NetworkKind.SANDBOX, 16) == addr


# --- the signer's own policy --------------------------------------------------------


def _evm_tx(to: str, value: int, data: str = "0x") -> dict[str, object]:
    return {
        "type": 2, "chainId": 31337, "nonce": 0, "to": to, "value": value, "data": data,
        "gas": 21_000, "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 10**8,
    }  # fmt: skip


def test_signer_refuses_caps_destinations_and_mismatched_payloads(world: Custody) -> None:
    hot = world.platform(Chain.ETHEREUM)
    outsider = "0x1111111111111111111111111111111111111111"

    def intent(key: str, amount: int, purpose: Purpose, to: str = outsider) -> TransferIntent:
        return TransferIntent(key, Chain.ETHEREUM, "ETH", hot, to, amount, purpose)

    with transaction(world.factory) as s:
        with pytest.raises(PerTransactionCapExceeded):
            world.signer.sign_evm(
                s, intent("a", 10**18 + 1, Purpose.WITHDRAWAL), _evm_tx(outsider, 10**18 + 1)
            )
        with pytest.raises(DestinationNotAllowed):
            world.signer.sign_evm(s, intent("b", 1, Purpose.SWEEP), _evm_tx(outsider, 1))
        with pytest.raises(DestinationNotAllowed):
            world.signer.sign_evm(s, intent("c", 1, Purpose.COLD), _evm_tx(outsider, 1))
        with pytest.raises(PayloadMismatch):
            world.signer.sign_evm(s, intent("d", 5, Purpose.WITHDRAWAL), _evm_tx(outsider, 6))
        with pytest.raises(KeyUnavailable):  # not our address: nothing to sign with
            bad = TransferIntent("e", Chain.ETHEREUM, "ETH", outsider, hot, 1, Purpose.WITHDRAWAL)
            world.signer.sign_evm(s, bad, _evm_tx(hot, 1))
        cold = "0x000000000000000000000000000000000000dEaD"
        assert world.signer.sign_evm(s, intent("f", 1, Purpose.COLD, cold), _evm_tx(cold, 1))
    with transaction(
        world.factory
    ) as s:  # daily cap 10 ETH; 1 wei already signed, refusals use none
        for n in range(9):
            world.signer.sign_evm(
                s, intent(f"g{n}", 10**18, Purpose.WITHDRAWAL), _evm_tx(outsider, 10**18)
            )
        with pytest.raises(DailyCapExceeded) as info:
            world.signer.sign_evm(
                s, intent("h", 10**18, Purpose.WITHDRAWAL), _evm_tx(outsider, 10**18)
            )
        assert info.value.code == "signer_daily_cap_exceeded" and info.value.http_status == 403


# --- no key material anywhere ---------------------------------------------------------


def _secrets(world: Custody, indices: dict[Chain, int]) -> list[str]:
    """Every textual form of the seeds and the keys used, to search for."""
    from bip_utils import Base58Encoder
    from bitcoinlib.keys import Key
    from solders.keypair import Keypair

    found: list[str] = []
    with transaction(world.factory) as s:
        for family in ChainFamily:
            if family is ChainFamily.FIAT:
                continue
            seed = world.vault.seed(s, family)
            found += [seed.reveal().hex(), Base58Encoder.Encode(seed.reveal())]
        for chain, index in indices.items():
            seed = world.vault.seed(
                s,
                {Chain.ETHEREUM: ChainFamily.EVM, Chain.SOLANA: ChainFamily.SOLANA}.get(
                    chain, ChainFamily.UTXO
                ),
            )
            key = hd.private_key(seed, chain, NetworkKind.SANDBOX, index).reveal()
            found += [key.hex(), key.hex().upper()]
            if chain is Chain.SOLANA:
                found.append(str(Keypair.from_seed(key)))  # base58 64-byte secret
            if chain in (Chain.BITCOIN, Chain.DOGECOIN):
                net = "regtest" if chain is Chain.BITCOIN else "dogecoin_testnet"
                found.append(Key(key, network=net).wif())
    return found


def test_no_private_key_material_in_logs_reprs_errors_or_the_database(
    world: Custody, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from solders.hash import Hash
    from solders.message import Message
    from solders.pubkey import Pubkey
    from solders.system_program import TransferParams, transfer

    caplog.set_level(logging.DEBUG)
    hot_eth = world.platform(Chain.ETHEREUM)
    hot_btc = world.platform(Chain.BITCOIN)
    world.own(Chain.SOLANA, hd.solana_address(_seed(world, ChainFamily.SOLANA), 20), 20)
    sol_from = hd.solana_address(_seed(world, ChainFamily.SOLANA), 20)
    outsider = "0x1111111111111111111111111111111111111111"
    texts: list[str] = []
    with transaction(world.factory) as s:
        raw = world.signer.sign_evm(
            s,
            TransferIntent("k1", Chain.ETHEREUM, "ETH", hot_eth, outsider, 5, Purpose.WITHDRAWAL),
            _evm_tx(outsider, 5),
        )
        texts.append(raw.hex())
        plan = UtxoPlan(
            [UtxoInput("ab" * 32, 0, 100_000, hot_btc)],
            [
                UtxoOutput("bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk", 50_000),
                UtxoOutput(hot_btc, 49_000),
            ],
        )
        texts.append(
            world.signer.sign_utxo(
                s,
                TransferIntent(
                    "k2",
                    Chain.BITCOIN,
                    "BTC",
                    hot_btc,
                    "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk",
                    50_000,
                    Purpose.WITHDRAWAL,
                ),
                plan,
            )
        )
        blockhash = Hash.default()
        message = Message.new_with_blockhash(
            [
                transfer(
                    TransferParams(
                        from_pubkey=Pubkey.from_string(sol_from),
                        to_pubkey=Pubkey.from_string(SOL_DEST),
                        lamports=7,
                    )
                )
            ],
            Pubkey.from_string(sol_from),
            blockhash,
        )
        texts.append(
            str(
                world.signer.sign_solana(
                    s,
                    TransferIntent(
                        "k3", Chain.SOLANA, "SOL", sol_from, SOL_DEST, 7, Purpose.WITHDRAWAL
                    ),
                    message,
                    blockhash,
                )
            )
        )
        for failing in (
            lambda: world.signer.sign_evm(
                s,
                TransferIntent(
                    "k4", Chain.ETHEREUM, "ETH", hot_eth, outsider, 5, Purpose.WITHDRAWAL
                ),
                _evm_tx(outsider, 6),
            ),
            lambda: SeedVault(LocalKeyManager(os.urandom(32)), NetworkKind.SANDBOX).seed(
                s, ChainFamily.EVM
            ),
        ):
            with pytest.raises(Exception) as info:
                failing()
            texts.append(repr(info.value) + str(info.value))
        seed = world.vault.seed(s, ChainFamily.EVM)
        texts += [repr(seed), str(seed), f"{seed}", repr(world.vault), repr(world.signer)]
    secrets = _secrets(world, {Chain.ETHEREUM: 0, Chain.BITCOIN: 0, Chain.SOLANA: 20})
    assert len(secrets) >= 12
    dump = "\n".join(sqlite3.connect(tmp_path / "c.db").iterdump())
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    haystacks = {
        "database": dump.lower(),
        "logs": logs.lower(),
        "outputs": "\n".join(texts).lower(),
    }
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret.lower() not in text, f"key material found in {where}"
    assert "redacted" in repr(seed)


def _seed(world: Custody, family: ChainFamily) -> SecretBytes:
    with transaction(world.factory) as s:
        return world.vault.seed(s, family)


def test_addresses_are_unique_per_user_and_purpose(world: Custody) -> None:
    uid = world.user("u@example.com")
    first = world.address(Chain.ETHEREUM, uid)
    assert world.address(Chain.ETHEREUM, uid) == first  # custodial: one per chain
    deposit = world.address(Chain.ETHEREUM, uid, AddressPurpose.DEPOSIT)
    assert deposit != first
    assert world.platform(Chain.ETHEREUM) == world.platform(Chain.ETHEREUM)
