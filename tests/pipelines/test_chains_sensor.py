"""The all-chains sensor: one tick scans every chain; a failing chain holds no other back."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipelines.resources import WalletDatabase
from sensors.chains import SharedAdapter, chains_sensor
from tests.pipelines.fake_chain import FakeChain
from wallet.assets import Chain
from wallet.chains.base import BlockRef
from wallet.db.models import ChainObservation, WalletAddress
from wallet.db.models.users import AddressPurpose
from wallet.db.session import transaction


class FakeBitcoin(FakeChain):
    chain = Chain.BITCOIN

    def __init__(self, height: int) -> None:
        super().__init__(height)
        self.down = False

    def head(self) -> BlockRef:
        if self.down:
            raise ConnectionError("node unreachable")
        return super().head()


class Counting:
    """An adapter factory that counts builds and closes."""

    def __init__(self, adapter: FakeChain) -> None:
        self.adapter, self.built, self.closed = adapter, 0, 0
        adapter.close = self._close  # type: ignore[method-assign]

    def __call__(self) -> FakeChain:
        self.built += 1
        return self.adapter

    def _close(self) -> None:
        self.closed += 1


def _tick(sensor: dg.SensorDefinition, cursor: str | None, db: WalletDatabase) -> Any:
    return sensor(dg.build_sensor_context(cursor=cursor, resources={"db": db}))


def test_one_tick_scans_every_chain_and_keeps_each_cursor(
    app_db: tuple[str, sessionmaker[Session]],
) -> None:
    url, factory = app_db
    db = WalletDatabase(database_url=url)
    with transaction(factory) as s:
        s.add(
            WalletAddress(
                chain="ethereum",
                purpose=AddressPurpose.DEPOSIT,
                address="0xabc",
                derivation_index=0,
            )
        )
    eth, btc = FakeChain(height=5), FakeBitcoin(height=100)
    eth_factory, btc_factory = Counting(eth), Counting(btc)
    sensor = chains_sensor(
        {"ethereum": SharedAdapter(eth_factory), "bitcoin": SharedAdapter(btc_factory)}
    )

    first = _tick(sensor, None, db)
    cursors = {"bitcoin": f"100:{btc.hash(100)}", "ethereum": f"5:{eth.hash(5)}"}
    assert isinstance(first, dg.SensorResult)
    assert json.loads(first.cursor or "") == cursors and first.run_requests == []

    # A quiet tick: nothing recorded, the cursor unchanged, the adapters reused.
    quiet = _tick(sensor, first.cursor, db)
    assert isinstance(quiet, dg.SkipReason) and "no new block" in (quiet.skip_message or "")
    assert (eth_factory.built, btc_factory.built) == (1, 1)
    assert (eth_factory.closed, btc_factory.closed) == (0, 0)

    # Bitcoin's node goes away: ethereum's payment is still seen and recorded.
    btc.down = True
    eth.extend(8)
    eth.pay(height=7, address="0xabc", txid="0xt1", amount=10**18)
    partial = _tick(sensor, first.cursor, db)
    assert isinstance(partial, dg.SensorResult) and partial.run_requests == []
    assert json.loads(partial.cursor or "") == {**cursors, "ethereum": f"8:{eth.hash(8)}"}
    [event] = partial.asset_events
    assert event.metadata["chain"].value == "ethereum"
    assert event.metadata["observed"].value == 1
    with factory() as s:
        assert [o.txid for o in s.scalars(select(ChainObservation))] == ["0xt1"]
    # The failed chain's adapter was dropped; the next tick builds a fresh one.
    assert (btc_factory.closed, btc_factory.built) == (1, 1)

    # Every chain down: the tick itself fails, visibly.
    down = [FakeBitcoin(height=1), FakeBitcoin(height=1)]
    for chain in down:
        chain.down = True
    dead = chains_sensor({"bitcoin": lambda: down[0], "ethereum": lambda: down[1]})
    with pytest.raises(Exception, match="every chain scan failed"):
        _tick(dead, partial.cursor, db)

    btc.down = False
    back = _tick(sensor, partial.cursor, db)
    assert btc_factory.built == 2
    assert isinstance(back, dg.SkipReason)  # bitcoin's head has not moved: nothing new


def test_a_reorg_still_requests_a_confirmations_run(
    app_db: tuple[str, sessionmaker[Session]],
) -> None:
    url, _factory = app_db
    db = WalletDatabase(database_url=url)
    eth = FakeChain(height=5)
    sensor = chains_sensor({"ethereum": lambda: eth})
    first = _tick(sensor, None, db)
    eth.extend(8)
    second = _tick(sensor, first.cursor, db)
    assert isinstance(second, dg.SensorResult) and second.run_requests == []
    # New blocks with nothing for us: the cursor moves, nothing is recorded.
    assert second.asset_events == [] and json.loads(second.cursor or "") == {
        "ethereum": f"8:{eth.hash(8)}"
    }
    eth.reorg(from_height=7, new_tip=9)
    after = _tick(sensor, second.cursor, db)
    assert [r.run_key for r in after.run_requests] == ["ethereum:7-9:reorg"]
    assert after.run_requests[0].run_config == {
        "ops": {"chain_confirmations": {"config": {"chain": "ethereum"}}}
    }
