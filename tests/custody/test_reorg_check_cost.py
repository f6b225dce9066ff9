"""The reorg check on credits costs the same however many credits a chain has.

``process_deposits`` looks for credits whose deposit left the best chain on
every tick, and the chain watcher ticks every second: the check must be a
fixed number of queries, and ask the node only about recent blocks. The
node is faked here (a unit test of the query shape); reversals themselves
are tested against anvil in ``tests/chains/test_evm.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import event

from tests.settlement.helpers import sqlite_factory
from wallet.assets import Chain
from wallet.custody.deposits import _BestChain, _reverse_orphaned
from wallet.db.models.chain import ChainObservation, Credit
from wallet.db.session import transaction


class _Node:
    chain = Chain.ETHEREUM

    def __init__(self) -> None:
        self.asked: list[int] = []
        self.requests = 0

    def block_hash(self, height: int) -> str:
        return self.block_hashes([height])[height]

    def block_hashes(self, heights: Sequence[int]) -> dict[int, str]:
        self.requests += 1
        self.asked.extend(heights)
        return {h: f"0xblock{h}" for h in heights}


def _statements(path: Path, credits: int) -> tuple[int, list[int], int]:
    engine, factory = sqlite_factory(path)
    with transaction(factory) as s:
        for n in range(credits):
            height = 1_000 + n % 5  # recent, on the best chain
            s.add(Credit(chain="ethereum", txid=f"0x{n:064x}", idx=0, asset="ETH",
                         address="0xabc", amount_minor=10 + n))  # fmt: skip
            s.add(ChainObservation(chain="ethereum", txid=f"0x{n:064x}", idx=0, asset="ETH",
                                   address="0xabc", amount_minor=10 + n, block_number=height,
                                   block_hash=f"0xblock{height}", status="success"))  # fmt: skip
        # Final by policy: sighted only below the floor, never asked about again.
        s.add(Credit(chain="ethereum", txid="0xold", idx=0, asset="ETH", address="0xabc",
                     amount_minor=5))  # fmt: skip
        s.add(ChainObservation(chain="ethereum", txid="0xold", idx=0, asset="ETH",
                               address="0xabc", amount_minor=5, block_number=3,
                               block_hash="0xgone", status="success"))  # fmt: skip
    count = [0]
    event.listen(engine, "before_cursor_execute", lambda *_a: count.__setitem__(0, count[0] + 1))
    node = _Node()
    assert _reverse_orphaned(factory, node, _BestChain(node), floor=900) == []  # type: ignore[arg-type]
    engine.dispose()
    return count[0], node.asked, node.requests


def test_the_reorg_check_is_a_fixed_number_of_queries_over_recent_credits(tmp_path: Path) -> None:
    few, asked_few, requests_few = _statements(tmp_path / "few.db", 2)
    many, asked_many, requests_many = _statements(tmp_path / "many.db", 40)
    assert few == many
    # Each recent height asked once (cached across credits); none for the old credit;
    # and all of them in one request to the node, however many.
    assert sorted(asked_few) == [1_000, 1_001]
    assert sorted(asked_many) == [1_000, 1_001, 1_002, 1_003, 1_004]
    assert requests_few == requests_many == 1
