"""Block scanning with a cursor: observations in, reorgs noticed, nothing edited.

One step (:func:`scan_step`) reads the cursor, checks that the cursor's
block is still in the best chain (walking back through the recently
scanned blocks to the fork point if not), asks the adapter for transfers
to *all* watched addresses in the next range of blocks, and writes the
observations (insert-only; the unique ``(chain, txid, idx, block_hash)``
makes a re-run harmless) together with the new cursor. RPC calls happen
outside any database transaction; the write re-checks the cursor, so two
concurrent scanners (at-least-once orchestration) cannot both advance it.
"""

from __future__ import annotations

import logging
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from wallet import audit
from wallet.chains.base import BlockRef, ChainAdapter, Observation
from wallet.chains.models import ScanCursor, ScannedBlock
from wallet.chains.watchlist import Watchlist
from wallet.db.models.chain import ChainObservation
from wallet.db.models.users import WalletAddress
from wallet.db.session import transaction
from wallet.db.upsert import dialect_insert

log = logging.getLogger(__name__)
security = logging.getLogger("wallet.security")


@dataclass(frozen=True, slots=True)
class ScanReport:
    start: int
    end: int  # start - 1 when there was nothing new
    observed: int  # new observation rows
    reorg_depth: int  # blocks the cursor walked back (0: none)
    security_events: int


def watched_addresses(session: Session, adapter: ChainAdapter) -> set[str]:
    """Every address of ours on the adapter's chain, normalised for matching."""
    rows = session.scalars(
        select(WalletAddress.address).where(WalletAddress.chain == adapter.chain.value)
    )
    return {adapter.normalise(a) for a in rows}


def _insert_ignore(session: Session, model: type[object], rows: list[dict[str, object]]) -> int:
    if not rows:
        return 0
    insert = dialect_insert(session)
    result = session.execute(insert(model).values(rows).on_conflict_do_nothing())
    return int(getattr(result, "rowcount", 0) or 0)


def _fork_point(session: Session, adapter: ChainAdapter, name: str) -> tuple[int | None, int]:
    """(height of the newest kept block still in the best chain, blocks walked back)."""
    kept = session.scalars(
        select(ScannedBlock).where(ScannedBlock.name == name).order_by(ScannedBlock.height.desc())
    ).all()
    for walked, row in enumerate(kept):
        if adapter.block_hash(row.height) == row.block_hash:
            return row.height, walked
    return None, len(kept)


def scan_step(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    *,
    name: str | None = None,
    start_height: int = 0,
    max_blocks: int = 500,
    keep_blocks: int = 256,
    watchlist: Watchlist | None = None,
) -> ScanReport:
    """Scan the next range of blocks once; safe to repeat, crash or run twice.

    ``watchlist`` keeps the watched addresses between steps (the warm
    watcher's); without one, each step loads them all.
    """
    name = name or adapter.chain.value
    with transaction(factory) as session:
        cursor = session.get(ScanCursor, name)
        seen = (cursor.height, cursor.block_hash) if cursor else None
        reorg_depth = 0
        start = start_height
        if cursor is not None:
            start = cursor.height + 1
            if adapter.block_hash(cursor.height) != cursor.block_hash:
                fork, reorg_depth = _fork_point(session, adapter, name)
                start = (fork + 1) if fork is not None else max(start_height, start - keep_blocks)
                security.warning(
                    "reorg detected chain=%s cursor=%s resume_from=%s",
                    adapter.chain.value,
                    cursor.height,
                    start,
                )
    head = adapter.head()
    end = min(head.height, start + max_blocks - 1)
    if end < start:
        return ScanReport(start, start - 1, 0, reorg_depth, 0)
    # Read after the head: an address is shown to its payer only once committed, so
    # any deposit in blocks up to the head went to an address this read sees.
    with transaction(factory) as session:
        if watchlist is None:
            watched: AbstractSet[str] = watched_addresses(session, adapter)
        else:
            watched = watchlist.refresh(session, adapter.normalise)
    result = adapter.scan(start, end, watched)
    with transaction(factory) as session:
        cursor = session.get(ScanCursor, name, with_for_update=True, populate_existing=True)
        now = (cursor.height, cursor.block_hash) if cursor else None
        if now != seen:
            log.info("scanner %s: cursor moved concurrently; dropping this step", name)
            return ScanReport(start, start - 1, 0, reorg_depth, 0)
        added = _insert_ignore(
            session,
            ChainObservation,
            [_row(o) for o in result.observations],
        )
        _remember(session, name, result.blocks, start, keep_blocks)
        last = result.blocks[-1] if result.blocks else BlockRef(end, head.hash)
        if cursor is None:
            session.add(ScanCursor(name=name, height=last.height, block_hash=last.hash))
        else:
            cursor.height, cursor.block_hash = last.height, last.hash
        for code, details in result.security_events:
            security.warning("security.%s %s", code, details)
            audit.record(
                session,
                actor="system:chain-scanner",
                action=f"security.{code}",
                subject_type="chain_tx",
                subject_id=details.get("txid", "")[-64:],
                data=details,
            )
    return ScanReport(start, last.height, added, reorg_depth, len(result.security_events))


def _remember(session: Session, name: str, blocks: list[BlockRef], start: int, keep: int) -> None:
    session.execute(
        delete(ScannedBlock).where(ScannedBlock.name == name, ScannedBlock.height >= start)
    )
    tail = blocks[-keep:]
    if tail:
        session.execute(
            delete(ScannedBlock).where(
                ScannedBlock.name == name, ScannedBlock.height < tail[-1].height - keep
            )
        )
        session.add_all(ScannedBlock(name=name, height=b.height, block_hash=b.hash) for b in tail)
    session.flush()


def scan_until_head(
    factory: sessionmaker[Session], adapter: ChainAdapter, **kwargs: Any
) -> list[ScanReport]:
    """Repeat :func:`scan_step` until the cursor reaches the head (tests, backfills)."""
    reports = []
    while True:
        report = scan_step(factory, adapter, **kwargs)
        reports.append(report)
        if report.end < report.start:
            return reports


def record_observations(factory: sessionmaker[Session], observations: list[Observation]) -> int:
    """Insert sightings outside a block scan (e.g. mempool); duplicates are ignored."""
    with transaction(factory) as session:
        return _insert_ignore(session, ChainObservation, [_row(o) for o in observations])


def _row(o: Observation) -> dict[str, object]:
    return {
        "chain": o.chain,
        "txid": o.txid,
        "idx": o.idx,
        "asset": o.asset,
        "address": o.address,
        "amount_minor": o.amount_minor,
        "block_number": o.block_number,
        "block_hash": o.block_hash if o.block_hash is not None else "",
        "status": o.status.value,
    }
