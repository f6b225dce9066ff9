"""Work claiming (wallet.db.claims): leases over ``FOR UPDATE SKIP LOCKED``.

The tables here are the tests' own (a separate metadata), created in the
session's PostgreSQL schema or a fresh SQLite file. The crowd test runs
several claimers at once against PostgreSQL, one of them a real process
killed with SIGKILL while it holds a batch: no job is taken twice while a
lease lives, every job is done exactly once, and the dead worker's jobs
come back only after its lease expired.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, Engine, Integer, String, func, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from wallet.db.base import UTCDateTime, utcnow
from wallet.db.claims import Claimable, claim_batch, held_by, new_worker_id, release, renew
from wallet.db.session import make_engine, make_session_factory, transaction

IdType = BigInteger().with_variant(Integer(), "sqlite")
LONG_LEASE = 60.0  # the crowd's lease: never runs out during the test
DEAD_LEASE = 1.5  # the killed worker's lease: runs out while the others work
DEAD_BATCH = 7


class _Base(DeclarativeBase):
    pass


class Job(Claimable, _Base):
    __tablename__ = "claims_test_jobs"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    priority: Mapped[int] = mapped_column(default=0)
    done_by: Mapped[str | None] = mapped_column(String(128))


class Event(_Base):
    """One row per claim and per completion, never updated: the evidence."""

    __tablename__ = "claims_test_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    job_id: Mapped[int]
    worker: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))  # claim | done
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _fresh_tables(engine: Engine) -> None:
    _Base.metadata.drop_all(engine)
    _Base.metadata.create_all(engine)


@pytest.fixture
def pg_jobs(pg_schema_url: str) -> Iterator[tuple[str, sessionmaker[Session]]]:
    engine = make_engine(pg_schema_url)
    _fresh_tables(engine)
    yield pg_schema_url, make_session_factory(engine)
    _Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def sqlite_jobs(tmp_path: Path) -> Iterator[tuple[str, sessionmaker[Session]]]:
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    engine = make_engine(url)
    _fresh_tables(engine)
    yield url, make_session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def jobs(request: pytest.FixtureRequest) -> tuple[str, sessionmaker[Session]]:
    name = "sqlite_jobs" if request.param == "sqlite" else "pg_jobs"
    value: tuple[str, sessionmaker[Session]] = request.getfixturevalue(name)
    return value


def _seed(factory: sessionmaker[Session], count: int, **values: Any) -> list[int]:
    with transaction(factory) as s:
        rows = [Job(**values) for _ in range(count)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def _claim(
    factory: sessionmaker[Session],
    worker: str,
    limit: int = 10,
    lease: float = LONG_LEASE,
    now: datetime | None = None,
) -> list[int]:
    with transaction(factory) as s:
        rows = claim_batch(
            s,
            Job,
            where=Job.status == "pending",
            order_by=Job.priority.desc(),
            limit=limit,
            lease_seconds=lease,
            worker_id=worker,
            now=now,
        )
        return [r.id for r in rows]


# -- one claimer at a time: the contract ------------------------------------


def test_claims_honour_where_order_and_limit_and_skip_held_rows(jobs: Any) -> None:
    _, factory = jobs
    low = _seed(factory, 3, priority=1)
    high = _seed(factory, 2, priority=9)
    _seed(factory, 2, status="done", priority=99)

    first = _claim(factory, "w1", limit=3)
    assert first == [*high, low[0]]  # priority first, then id; done rows never
    second = _claim(factory, "w2", limit=10)
    assert second == low[1:]  # only what w1 does not hold
    assert _claim(factory, "w3") == []

    with factory() as s:
        held = {j.id: j.claimed_by for j in s.scalars(select(Job).where(Job.status == "pending"))}
    assert held == {**dict.fromkeys(first, "w1"), **dict.fromkeys(second, "w2")}


def test_release_returns_rows_and_only_the_holder_may_release(jobs: Any) -> None:
    _, factory = jobs
    ids = _seed(factory, 2)
    assert _claim(factory, "w1") == ids
    with transaction(factory) as s:
        assert release(s, Job, ids, worker_id="w2") == 0  # not w2's to give back
        assert release(s, Job, ids[:1], worker_id="w1") == 1
    assert _claim(factory, "w2") == ids[:1]


def test_expired_lease_is_reclaimed_and_fences_out_the_old_holder(jobs: Any) -> None:
    _, factory = jobs
    t0 = utcnow()
    ids = _seed(factory, 1)
    assert _claim(factory, "w1", lease=30, now=t0) == ids
    assert _claim(factory, "w2", now=t0 + timedelta(seconds=29)) == []  # still w1's
    assert _claim(factory, "w2", now=t0 + timedelta(seconds=31)) == ids  # lapsed: w2's now

    with transaction(factory) as s:
        # w1 wakes up from its stall: its fenced finish and its renewal change nothing.
        done = s.execute(
            update(Job).where(Job.id == ids[0], held_by(Job, "w1")).values(status="done")
        )
        assert done.rowcount == 0
        assert renew(s, Job, ids, worker_id="w1", lease_seconds=30, now=t0) == 0
    with factory() as s:
        job = s.get(Job, ids[0])
        assert job is not None and (job.status, job.claimed_by) == ("pending", "w2")


def test_renew_extends_only_the_holders_lease(jobs: Any) -> None:
    _, factory = jobs
    t0 = utcnow()
    ids = _seed(factory, 2)
    assert _claim(factory, "w1", lease=10, now=t0) == ids
    with transaction(factory) as s:
        later = t0 + timedelta(seconds=8)
        assert renew(s, Job, ids, worker_id="w1", lease_seconds=10, now=later) == 2
    # Past the first lease but inside the renewed one: nobody may take them.
    assert _claim(factory, "w2", now=t0 + timedelta(seconds=15)) == []
    assert _claim(factory, "w2", now=t0 + timedelta(seconds=19)) == ids


@pytest.mark.postgres
def test_postgres_leases_run_on_the_database_clock(pg_jobs: Any) -> None:
    _, factory = pg_jobs
    ids = _seed(factory, 1)
    with transaction(factory) as s:
        db_before = s.scalar(select(func.statement_timestamp()))
        job = claim_batch(s, Job, limit=1, lease_seconds=0.3, worker_id="w1")[0]
        assert job.lease_expires_at is not None
        assert timedelta(seconds=0.3) <= job.lease_expires_at - db_before < timedelta(seconds=5)
    assert _claim(factory, "w2") == []
    time.sleep(0.4)
    assert _claim(factory, "w2") == ids


@pytest.mark.parametrize("bad", [{"limit": 0}, {"lease_seconds": 0}, {"worker_id": ""}])
def test_bad_arguments_are_refused(sqlite_jobs: Any, bad: dict[str, Any]) -> None:
    _, factory = sqlite_jobs
    args: dict[str, Any] = {"limit": 1, "lease_seconds": 1.0, "worker_id": "w", **bad}
    with factory() as s, pytest.raises(ValueError):
        claim_batch(s, Job, **args)


def test_worker_ids_are_unique_and_fit_the_column() -> None:
    ids = {new_worker_id("outbox") for _ in range(50)}
    assert len(ids) == 50
    assert all(i.startswith("outbox@") and len(i) <= 128 for i in ids)


# -- many claimers at once ----------------------------------------------------


def _work(url: str, worker: str, lease: float, stop: threading.Event) -> None:
    """A polling worker: claim a batch, finish each job fenced by the lease."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        while not stop.is_set():
            with transaction(factory) as s:
                rows = claim_batch(
                    s,
                    Job,
                    where=Job.status == "pending",
                    order_by=Job.id,
                    limit=5,
                    lease_seconds=lease,
                    worker_id=worker,
                )
                for row in rows:
                    s.add(
                        Event(
                            job_id=row.id,
                            worker=worker,
                            kind="claim",
                            lease_expires_at=row.lease_expires_at,
                        )
                    )
                ids = [r.id for r in rows]
            if not ids:
                time.sleep(0.05)
                continue
            for job_id in ids:
                time.sleep(0.002)  # the "work": lets the other claimers in
                with transaction(factory) as s:
                    finished = s.execute(
                        update(Job)
                        .where(Job.id == job_id, held_by(Job, worker))
                        .values(
                            status="done", done_by=worker, claimed_by=None, lease_expires_at=None
                        )
                    )
                    if finished.rowcount == 1:
                        s.add(Event(job_id=job_id, worker=worker, kind="done"))
    finally:
        engine.dispose()


def _claim_and_hang(url: str, worker: str, holding: Any) -> None:
    """Child process: claim a batch, commit, say so, then wait to be killed."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        rows = claim_batch(
            s,
            Job,
            where=Job.status == "pending",
            order_by=Job.id,
            limit=DEAD_BATCH,
            lease_seconds=DEAD_LEASE,
            worker_id=worker,
        )
        for row in rows:
            s.add(
                Event(
                    job_id=row.id,
                    worker=worker,
                    kind="claim",
                    lease_expires_at=row.lease_expires_at,
                )
            )
    holding.set()
    time.sleep(120)


def _run_crowd(url: str, factory: sessionmaker[Session], threads: int, total: int) -> None:
    stop = threading.Event()
    workers = [
        threading.Thread(target=_work, args=(url, f"thread-{i}", LONG_LEASE, stop), daemon=True)
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            with factory() as s:
                done = s.scalar(select(func.count()).where(Job.status == "done"))
            if done == total:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for w in workers:
            w.join(10)


@pytest.mark.postgres
def test_postgres_crowd_takes_each_job_once_and_reclaims_a_killed_workers_batch(
    pg_jobs: Any,
) -> None:
    url, factory = pg_jobs
    total = 120
    _seed(factory, total)

    ctx = multiprocessing.get_context("spawn")
    holding = ctx.Event()
    dead = ctx.Process(target=_claim_and_hang, args=(url, "doomed", holding))
    dead.start()
    try:
        assert holding.wait(60), "the doomed worker never claimed its batch"
    finally:
        os.kill(dead.pid or 0, signal.SIGKILL)
        dead.join(10)
    assert dead.exitcode == -signal.SIGKILL

    _run_crowd(url, factory, threads=4, total=total)

    with factory() as s:
        jobs = s.scalars(select(Job)).all()
        events = s.scalars(select(Event).order_by(Event.id)).all()
    assert {j.status for j in jobs} == {"done"}
    done = Counter(e.job_id for e in events if e.kind == "done")
    assert done == Counter({j.id: 1 for j in jobs})  # every job finished exactly once

    claims: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        if e.kind == "claim":
            claims[e.job_id].append(e)
    doomed = {job_id for job_id, cs in claims.items() if cs[0].worker == "doomed"}
    assert len(doomed) == DEAD_BATCH
    for job_id, cs in claims.items():
        if job_id not in doomed:
            assert len(cs) == 1, f"job {job_id} claimed twice: {[c.worker for c in cs]}"
            continue
        first, second = cs  # the dead worker's claim, then exactly one reclaim
        assert second.worker.startswith("thread-")
        assert first.lease_expires_at is not None and second.lease_expires_at is not None
        reclaimed_at = second.lease_expires_at - timedelta(seconds=LONG_LEASE)
        assert reclaimed_at >= first.lease_expires_at  # only after the lease ran out
    assert not any(j.done_by == "doomed" for j in jobs)
    assert len({j.done_by for j in jobs}) >= 2  # the load was shared


def test_sqlite_threads_never_take_a_job_twice(sqlite_jobs: Any) -> None:
    url, factory = sqlite_jobs
    total = 40
    _seed(factory, total)
    _run_crowd(url, factory, threads=3, total=total)
    with factory() as s:
        events = s.scalars(select(Event)).all()
        statuses = set(s.scalars(select(Job.status)))
    assert statuses == {"done"}
    assert Counter(e.job_id for e in events if e.kind == "claim") == Counter(
        {i: 1 for i in range(1, total + 1)}
    )
    assert Counter(e.job_id for e in events if e.kind == "done") == Counter(
        {i: 1 for i in range(1, total + 1)}
    )
