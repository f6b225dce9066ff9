"""The watched-address cache: it never settles past an id a running transaction may
still commit (PostgreSQL, concurrent sessions), and reads forward from what settled."""

from __future__ import annotations

import itertools
import time
import uuid
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests.chains.helpers import sqlite_factory
from wallet.chains.watchlist import Watchlist
from wallet.db.models.users import AddressPurpose, WalletAddress
from wallet.db.session import transaction

_index = itertools.count(16)


def _chain() -> str:
    """A chain name of this test's own, so rows other tests wrote never meet it."""
    return f"wl-{uuid.uuid4().hex[:12]}"


def _row(chain: str) -> WalletAddress:
    return WalletAddress(
        chain=chain,
        purpose=AddressPurpose.DEPOSIT,
        address=f"Addr{uuid.uuid4().hex}",
        derivation_index=next(_index),
    )


def _add(factory: sessionmaker[Session], chain: str) -> tuple[int, str]:
    with transaction(factory) as s:
        row = _row(chain)
        s.add(row)
        s.flush()
        return row.id, row.address


def _refresh(factory: sessionmaker[Session], watchlist: Watchlist) -> frozenset[str]:
    with transaction(factory) as s:
        return frozenset(watchlist.refresh(s, str.lower))


def _settles_at(factory: sessionmaker[Session], watchlist: Watchlist, top: int) -> None:
    """Refresh until ``top`` settles: other tests' transactions on the shared server
    (parallel workers) hold PostgreSQL's xmin back for a while, which only delays it."""
    deadline = time.monotonic() + 60
    while watchlist.settled_id < top and time.monotonic() < deadline:
        time.sleep(0.1)
        _refresh(factory, watchlist)
    assert watchlist.settled_id == top


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_a_running_transaction_holds_is_seen_once_it_commits(
    pg_factory: sessionmaker[Session],
) -> None:
    chain = _chain()
    watchlist = Watchlist(chain, settle_s=0)
    _first_id, first = _add(pg_factory, chain)
    assert _refresh(pg_factory, watchlist) == {first.lower()}

    slow = pg_factory()  # takes the lower id, then stays open
    slow.begin()
    held = _row(chain)
    slow.add(held)
    slow.flush()
    try:
        later_id, later = _add(pg_factory, chain)
        assert held.id < later_id
        assert _refresh(pg_factory, watchlist) == {first.lower(), later.lower()}
        _refresh(pg_factory, watchlist)
        # settling at the highest id seen would skip the held row for good
        assert watchlist.settled_id < held.id
        slow.commit()
    finally:
        slow.close()
    assert held.address.lower() in _refresh(pg_factory, watchlist)
    _settles_at(pg_factory, watchlist, later_id)
    assert len(watchlist) == 3


def test_postgres_settles_only_after_the_settle_time_then_reads_forward(
    pg_factory: sessionmaker[Session],
) -> None:
    chain, clock = _chain(), FakeClock()
    watchlist = Watchlist(chain, settle_s=5, clock=clock)
    ids = [_add(pg_factory, chain)[0] for _ in range(3)]
    assert len(_refresh(pg_factory, watchlist)) == 3
    clock.now += 4.9
    _refresh(pg_factory, watchlist)
    assert watchlist.settled_id == 0
    clock.now += 0.2
    _settles_at(pg_factory, watchlist, ids[-1])
    newer_id, newer = _add(pg_factory, chain)
    assert newer.lower() in _refresh(pg_factory, watchlist)
    assert watchlist.settled_id == ids[-1]  # the newer row is read again until it settles
    clock.now += 5
    _settles_at(pg_factory, watchlist, newer_id)


def test_sqlite_settles_at_once_and_only_this_chain_is_watched(tmp_path: Path) -> None:
    factory = sqlite_factory(tmp_path / "w.db")
    chain, other = _chain(), _chain()
    watchlist = Watchlist(chain)
    mine = [_add(factory, chain) for _ in range(2)]
    _add(factory, other)
    assert _refresh(factory, watchlist) == {a.lower() for _i, a in mine}
    assert watchlist.settled_id == mine[-1][0]
    newest_id, newest = _add(factory, chain)
    assert newest.lower() in _refresh(factory, watchlist)
    assert watchlist.settled_id == newest_id
