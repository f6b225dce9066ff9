"""A chain's watched addresses, kept between scans and read forward safely.

Loading every address of a chain before each scan grows with the number of
addresses: at 100,000 it was 0.26 s of a 0.57 s scan (bench (3)), and the
warm chain watcher scans a chain every second something waits on it. A
:class:`Watchlist` loads the set once, then reads only the rows after its
*settled* id.

Why not "the rows after the highest id seen": ids are not commit order. A
transaction holding a lower id can commit after a higher id is visible, and
an address missed that way is missed for good, because a scanned block range
is never scanned again. So the settled id moves up to the highest id one
refresh read only once every transaction that could still hold a lower id
has ended:

- on PostgreSQL, when a later refresh's snapshot has an xmin (its oldest
  running transaction) at or past that refresh's xmax (the first transaction
  id not yet handed out), both read in the same statement as the rows, and at
  least ``settle_s`` later: an INSERT takes its id before its transaction id,
  a window of microseconds that the age covers;
- on SQLite, one writer at a time, ids are commit order: at once;
- on any other database, never: every refresh reads the whole set.

Until then the rows after the settled id are read again at each refresh, so a
long-running transaction elsewhere makes refreshes costlier, never wrong.
Addresses are only ever inserted (a Solana pool address is assigned by
setting its owner), so the set only grows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Text, and_, func, select
from sqlalchemy.orm import Session

from wallet.db.models.users import WalletAddress

SETTLE_S = 5.0


@dataclass(frozen=True, slots=True)
class _Read:
    """What one PostgreSQL refresh saw: the highest id, and who could still hold a lower one."""

    top: int
    xmax: int  # the snapshot's first transaction id not yet handed out
    at: float  # clock seconds


class Watchlist:
    """One chain's addresses of ours, normalised for matching; refreshed, never reloaded."""

    def __init__(
        self,
        chain: str,
        *,
        settle_s: float = SETTLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain = chain
        self._settle_s = settle_s
        self._clock = clock
        self._addresses: set[str] = set()
        self._settled_id = 0
        self._unsettled: deque[_Read] = deque()
        self._lock = threading.Lock()

    @property
    def settled_id(self) -> int:
        """Every address with an id up to this one is in the set."""
        return self._settled_id

    def __len__(self) -> int:
        return len(self._addresses)

    def refresh(self, session: Session, normalise: Callable[[str], str]) -> AbstractSet[str]:
        """Every address committed before this session's snapshot.

        The set is the live one, which later refreshes only add to: a scan only
        asks it ``in``, so no copy of 100,000 addresses per scan.
        """
        with self._lock:
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":
                ids, addresses, snapshot = self._read_with_snapshot(session)
            else:
                (ids, addresses), snapshot = self._read(session), None
            self._addresses.update(map(normalise, addresses))
            top = max(ids, default=self._settled_id)
            if dialect == "sqlite":
                self._settled_id = top
            elif snapshot is not None:
                self._settle(top, *snapshot)
            return self._addresses

    def _after_settled(self) -> ColumnElement[bool]:
        return and_(WalletAddress.chain == self.chain, WalletAddress.id > self._settled_id)

    def _read(self, session: Session) -> tuple[Sequence[int], Sequence[str]]:
        """(ids, addresses) after the settled id; columns, not rows, to keep 100,000 cheap."""
        query = select(WalletAddress.id, WalletAddress.address).where(self._after_settled())
        rows = session.connection().execute(query).all()
        ids, addresses = zip(*rows, strict=True) if rows else ((), ())
        return ids, addresses

    def _read_with_snapshot(
        self, session: Session
    ) -> tuple[Sequence[int], Sequence[str], tuple[int, int]]:
        """:meth:`_read`, and the (xmin, xmax) of the snapshot that read the rows."""
        current = func.pg_current_snapshot()  # the statement's own snapshot
        snapshot = select(
            func.pg_snapshot_xmin(current).cast(Text).label("xmin"),
            func.pg_snapshot_xmax(current).cast(Text).label("xmax"),
        ).subquery()
        query = select(
            snapshot.c.xmin, snapshot.c.xmax, WalletAddress.id, WalletAddress.address
        ).select_from(snapshot.outerjoin(WalletAddress, self._after_settled()))
        rows = session.connection().execute(query).all()
        xmin, xmax = int(rows[0][0]), int(rows[0][1])
        if rows[0][2] is None:  # the outer join's one row: nothing after the settled id
            return (), (), (xmin, xmax)
        _xmins, _xmaxes, ids, addresses = zip(*rows, strict=True)
        return ids, addresses, (xmin, xmax)

    def _settle(self, top: int, xmin: int, xmax: int) -> None:
        now = self._clock()
        if top > (self._unsettled[-1].top if self._unsettled else self._settled_id):
            self._unsettled.append(_Read(top, xmax, now))
        while self._unsettled:
            oldest = self._unsettled[0]
            if oldest.xmax > xmin or now - oldest.at < self._settle_s:
                return
            self._settled_id = self._unsettled.popleft().top
