"""On-chain and venue balances tie out to the ledger's custody and exchange accounts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import Chain, get_asset
from wallet.db.models import ChainObservation, Credit
from wallet.db.models.users import AddressPurpose, WalletAddress
from wallet.db.session import transaction
from wallet.exchanges.types import Balance
from wallet.ledger import post_entry
from wallet.reconciliation import reconcile, snapshot
from wallet.reconciliation.balances import exchange_balance_breaks, onchain_balance_breaks

HOT = "0x00000000000000000000000000000000000000a1"
DEPOSIT = "0x00000000000000000000000000000000000000B2"


class FakeChain:
    """An adapter answering balances from a dict (the chain as a test sees it)."""

    def __init__(self, balances: dict[tuple[str, str], int], tokens: dict[str, str]) -> None:
        self.balances = balances
        self.tokens = tokens

    def normalise(self, address: str) -> str:
        return address.lower()

    def balance(self, address: str, asset: str) -> int:
        return self.balances.get((address, asset), 0)


class FakeVenue:
    def __init__(self, balances: dict[str, str]) -> None:
        self._balances = balances

    def balances(self) -> dict[str, Balance]:
        return {a: Balance(a, Decimal(v), Decimal(0)) for a, v in self._balances.items()}


def _addresses(factory: sessionmaker[Session], *addresses: str) -> None:
    with transaction(factory) as s:
        for i, address in enumerate(addresses):
            s.add(
                WalletAddress(
                    chain="ethereum",
                    purpose=AddressPurpose.HOT,
                    address=address,
                    derivation_index=i,
                )
            )


def _book(factory: sessionmaker[Session], ref: str, account: str, asset: str, amount: int) -> None:
    with transaction(factory) as s:
        post_entry(
            s,
            [(account, asset, amount), (f"external:test:{asset}", asset, -amount)],
            kind="test.seed",
            ref=ref,
        )


def _onchain(factory: sessionmaker[Session], adapter: Any) -> list[Any]:
    with snapshot(factory.kw["bind"]) as session:
        return onchain_balance_breaks(session, {"ethereum": adapter})


def test_onchain_totals_across_addresses_and_accounts_tie_out(
    factory: sessionmaker[Session],
) -> None:
    _addresses(factory, HOT, DEPOSIT)
    _book(factory, "hot", "hot:ethereum:ETH", "ETH", 700)
    _book(factory, "escrow", "escrow:ethereum:ETH", "ETH", 300)
    chain = FakeChain({(HOT, "ETH"): 400, (DEPOSIT.lower(), "ETH"): 600}, tokens={})
    assert _onchain(factory, chain) == []
    # One wei more on-chain than booked, with nothing in flight: a break of exactly 1.
    chain.balances[(HOT, "ETH")] = 401
    [b] = _onchain(factory, chain)
    assert (b.category, b.subject, b.ours, b.theirs) == (
        "onchain_balance_mismatch",
        "ethereum:ETH",
        1000,
        1001,
    )
    assert "difference=1 in_flight=0" in b.detail


def test_uncredited_observation_is_tolerated_up_to_its_amount_only(
    factory: sessionmaker[Session],
) -> None:
    _addresses(factory, HOT)
    _book(factory, "hot", "hot:ethereum:ETH", "ETH", 100)
    with transaction(factory) as s:
        for txid in ("t1", "t2"):
            s.add(
                ChainObservation(
                    chain="ethereum",
                    txid=txid,
                    idx=0,
                    asset="ETH",
                    address=HOT,
                    amount_minor=50,
                    block_number=1,
                    block_hash="h1",
                    status="success",
                )
            )
        # t2 is credited already (its 50 are in the 100 booked): only t1 is in flight.
        s.add(Credit(chain="ethereum", txid="t2", idx=0, asset="ETH", address=HOT, amount_minor=50))
    assert _onchain(factory, FakeChain({(HOT, "ETH"): 150}, {})) == []
    [over] = _onchain(factory, FakeChain({(HOT, "ETH"): 151}, {}))
    assert (over.ours, over.theirs) == (100, 151) and "in_flight=50" in over.detail
    # The chain short of the books is never in-flight: a break.
    [short] = _onchain(factory, FakeChain({(HOT, "ETH"): 99}, {}))
    assert (short.ours, short.theirs) == (100, 99)


def test_tokens_are_read_through_the_allowlist_and_missing_chains_are_reported(
    factory: sessionmaker[Session],
) -> None:
    _addresses(factory, HOT)
    _book(factory, "usdc", "hot:ethereum:USDC", "USDC", 5_000_000)
    chain = FakeChain({(HOT, "USDC"): 4_000_000}, tokens={"USDC": "0xusdc"})
    [b] = _onchain(factory, chain)
    assert (b.category, b.asset, b.ours, b.theirs) == (
        "onchain_balance_mismatch",
        "USDC",
        5_000_000,
        4_000_000,
    )
    # Without an allowlisted contract the balance cannot be read: said so, not zeroed.
    [unread] = _onchain(factory, FakeChain({}, tokens={}))
    assert (unread.category, unread.asset) == ("chain_unreachable", "USDC")
    with snapshot(factory.kw["bind"]) as session:
        [missing] = onchain_balance_breaks(session, {})
    assert (missing.category, missing.subject) == ("chain_unreachable", "ethereum")


def test_venue_balances_against_exchange_accounts_with_fakes(
    factory: sessionmaker[Session],
) -> None:
    _book(factory, "sol", "exchange:binance:SOL", "SOL", 2_000_000_000)
    venue = FakeVenue({"SOL": "2", "USDT": "10.5", "NOTOURS": "3"})
    with snapshot(factory.kw["bind"]) as session:
        [b] = exchange_balance_breaks(session, {"binance": venue})  # type: ignore[dict-item]
    assert (b.category, b.subject, b.ours, b.theirs) == (
        "exchange_balance_mismatch",
        "binance:USDT",
        0,
        10_500_000,
    )
    assert b.detail == "difference=10500000"


# -- against the real stand-ins -------------------------------------------------


@pytest.fixture(scope="module")
def eth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from sandbox.ethereum.testing import start_ethereum, stop_ethereum

    proc, info = start_ethereum(tmp_path_factory.mktemp("eth"), block_time=0)
    yield info
    stop_ethereum(proc)


@pytest.fixture(scope="module")
def binance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from sandbox.exchange.testing import start_exchange, stop_exchange

    process, info = start_exchange(tmp_path_factory.mktemp("ex"), venue="binance")
    yield info
    stop_exchange(process)


@pytest.mark.slow
def test_anvil_funding_without_ledger_entry_is_one_exact_break(
    factory: sessionmaker[Session], eth: dict[str, Any], tmp_path: Path
) -> None:
    from wallet.custody.service import build_adapter

    settings = SimpleNamespace(environment="dev", **eth["settings"])
    adapter = build_adapter(Chain.ETHEREUM, settings)
    # A fresh address per test run: anvil state is shared across the module.
    address = "0x" + tmp_path.name.encode().hex()[-40:].rjust(40, "0")
    _addresses(factory, address)
    now = datetime.now(UTC)
    try:
        with snapshot(factory.kw["bind"]) as session:
            clean = reconcile(session, now - timedelta(days=1), now, chains={"ethereum": adapter})
        assert clean.breaks == []
        funded = httpx.post(
            f"{eth['url']}/__sandbox/fund",
            json={"address": address, "asset": "ETH", "amount": "0.25"},
            trust_env=False,
        )
        funded.raise_for_status()
        with snapshot(factory.kw["bind"]) as session:
            report = reconcile(session, now - timedelta(days=1), now, chains={"ethereum": adapter})
    finally:
        adapter.close()
    [b] = report.breaks
    assert (b.category, b.subject, b.ours, b.theirs) == (
        "onchain_balance_mismatch",
        "ethereum:ETH",
        0,
        250_000_000_000_000_000,
    )
    assert int(funded.json()["amount_minor"]) == b.theirs - b.ours


@pytest.mark.slow
def test_venue_inventory_against_an_empty_then_matching_ledger(
    factory: sessionmaker[Session], binance: dict[str, Any]
) -> None:
    from wallet.exchanges.binance import BinanceClient

    client = BinanceClient(
        binance["url"],
        binance["credentials"]["api_key"],
        binance["credentials"]["api_secret"],
        venue="binance",
        rate_limit=False,
    )
    now = datetime.now(UTC)

    def report() -> Any:
        with snapshot(factory.kw["bind"]) as session:
            return reconcile(
                session, now - timedelta(days=1), now, venue_balances={"binance": client}
            )

    seeded = {
        a: b.total for a, b in client.balances().items() if a in ("SOL", "ETH", "USDT", "BTC")
    }
    assert seeded, "the stand-in seeds inventory"
    empty = report()
    by_asset = {b.asset: b for b in empty.breaks}
    assert {b.category for b in empty.breaks} == {"exchange_balance_mismatch"}
    for asset, total in seeded.items():
        minor = int(total * 10 ** get_asset(asset).decimals)
        assert (by_asset[asset].ours, by_asset[asset].theirs) == (0, minor)
    for b in empty.breaks:
        _book(factory, f"venue-{b.asset}", f"exchange:binance:{b.asset}", b.asset, b.theirs)
    assert report().breaks == []
