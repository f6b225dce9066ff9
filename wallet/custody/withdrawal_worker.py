"""The withdrawal worker: moves payers' withdrawals from ``held`` to ``posted`` (or ``failed``).

A withdrawal request (:func:`wallet.custody.withdrawals.request_withdrawal`,
or the web tier's) only holds the coins and records the row ``held``. Each
call of :func:`advance_withdrawals` — one tick of a Dagster sensor — does
the rest, a batch at a time:

1. **Claim** up to ``limit`` ``held`` or ``broadcast`` rows with
   :func:`wallet.db.claims.claim_batch` (``FOR UPDATE SKIP LOCKED`` plus a
   lease), ``held`` first, then the least recently looked at. Two workers
   never hold the same row at once, and a worker that dies loses its rows
   back to the pool when the lease runs out. ``held_for_review`` rows are
   not in the queue: an admin must release them first
   (:mod:`wallet.custody.withdrawal_review`). With nothing to do this is the
   whole tick: one query on the ``(status, updated_at)`` index, no RPC, no
   key material touched.
2. **Send** ``held`` rows from the chain's hot wallet
   (:func:`~wallet.custody.withdrawals.execute_withdrawal`): signed once per
   hold ref and re-sent, never re-signed, on a retry after a crash. A
   refusal (per-transaction cap, allowlist, invalid address) fails the
   withdrawal and voids the hold, so the coins are the payer's again; a
   delay (node error while building, the signer's daily cap, keys
   unavailable, the hot wallet short) leaves it ``held`` with the reason in
   ``error_code``, paused like a row whose step raised (step 4) and listed
   as ``delayed`` (:func:`wallet.custody.errors.is_refusal`). A ``broadcast`` row whose
   last broadcast the node refused (down, or the hot wallet short) is sent
   again — the same signed bytes — each pass until the node takes it.
3. **Settle** ``broadcast`` rows (:func:`~wallet.custody.withdrawals.settle_withdrawal`)
   once the transaction is as deep as the deposit side's confirmation rule
   wants for that asset and value (:class:`wallet.custody.deposits.ConfirmationPolicy`;
   the value in INR when the request recorded it, else the strictest tier):
   the hold is posted (the payer is debited exactly once); reverted or
   dropped voids it.
4. **Release** each row, fenced by the lease (``held_by``). A row whose step
   raised (a node down, a hot address not made yet) keeps its claim for
   :data:`RETRY_SECONDS`, so it is retried after a pause rather than every
   tick, and the error is reported.

The status changes inside steps 2 and 3 are fenced by the worker's lease as
well (``worker_id``), so a worker that stalled past its lease changes
nothing; the broadcast itself is keyed by our hold ref (RELIABILITY.md G3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import Chain
from wallet.chains.models import BroadcastStatus, ChainBroadcast
from wallet.custody.addresses import PublicKeys, platform_address, platform_address_any
from wallet.custody.chain_work import ChainWork
from wallet.custody.deposits import ConfirmationPolicy
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.custody.withdrawals import execute_withdrawal, hold_ref, settle_withdrawal
from wallet.db.claims import claim_batch, release, renew
from wallet.db.models.users import AddressPurpose
from wallet.db.session import transaction

log = logging.getLogger(__name__)

W = WithdrawalStatus
QUEUE = (W.HELD, W.BROADCAST)
# Long enough for one row's sign + broadcast + status look-up (a few RPC calls,
# each with its own timeout); the lease is released as soon as the row is done.
LEASE_SECONDS = 120.0
# A row whose step raised waits this long before any worker tries it again.
RETRY_SECONDS = 30.0
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class WithdrawalDeps(ChainWork):
    """What moving withdrawals needs (built only when there is work); Solana's hot
    address comes from the signer's pool filler."""

    policy: ConfirmationPolicy


def hot_address(session: Session, keys: PublicKeys, chain: Chain) -> str:
    """The hot wallet withdrawals are sent from (derived and stored once for EVM/UTXO)."""
    if chain is Chain.SOLANA:
        return platform_address_any(session, chain, AddressPurpose.HOT)
    return platform_address(session, keys, chain, AddressPurpose.HOT).address


@dataclass
class WithdrawalReport:
    """What one :func:`advance_withdrawals` call did, by withdrawal key."""

    sent: list[str] = field(default_factory=list)  # held → broadcast
    posted: list[str] = field(default_factory=list)  # confirmed, hold posted
    failed: list[str] = field(default_factory=list)  # refused, reverted or dropped: hold voided
    pending: int = 0  # broadcast, not yet deep enough
    delayed: list[tuple[str, str]] = field(default_factory=list)  # (key, code): held, retried
    errors: list[tuple[str, str]] = field(default_factory=list)  # (key, error): retried later

    @property
    def idle(self) -> bool:
        return not (
            self.sent or self.posted or self.failed or self.pending or self.delayed or self.errors
        )

    def __str__(self) -> str:
        if self.idle:
            return "no withdrawal to move"
        text = (
            f"sent={len(self.sent)} posted={len(self.posted)} failed={len(self.failed)} "
            f"pending={self.pending}"
        )
        if self.delayed:
            text += f" delayed={len(self.delayed)}"
        return text + (f" errors={len(self.errors)}" if self.errors else "")


@dataclass(frozen=True)
class _Job:
    id: int
    key: str
    chain: Chain
    asset: str
    status: WithdrawalStatus
    inr_paise: int | None


def _inr_paise(row: Withdrawal) -> int | None:
    raw = (row.detail or {}).get("amount_inr_paise")
    return int(raw) if raw and raw.isdigit() else None


def _claim(
    factory: sessionmaker[Session],
    *,
    worker_id: str,
    now: datetime | None,
    limit: int,
    lease_seconds: float,
) -> list[_Job]:
    with transaction(factory) as session:
        rows = claim_batch(
            session,
            Withdrawal,
            where=Withdrawal.status.in_(QUEUE),
            # Sending first (a payer is waiting), then the least recently looked at.
            order_by=[case((Withdrawal.status == W.HELD, 0), else_=1), Withdrawal.updated_at],
            limit=limit,
            lease_seconds=lease_seconds,
            worker_id=worker_id,
            now=now,
        )
        return [_Job(r.id, r.key, Chain(r.chain), r.asset, r.status, _inr_paise(r)) for r in rows]


def _refused_last_time(factory: sessionmaker[Session], key: str) -> bool:
    """Whether the last broadcast of this withdrawal's transfer ended in an error."""
    with factory() as session:
        error = session.scalar(
            select(ChainBroadcast.error).where(
                ChainBroadcast.key == hold_ref(key),
                ChainBroadcast.status == BroadcastStatus.SENT,
            )
        )
    return error is not None


def _step(
    factory: sessionmaker[Session],
    deps: WithdrawalDeps,
    job: _Job,
    worker_id: str,
    report: WithdrawalReport,
) -> bool:
    """Move one row; True when it must wait (delayed before signing) rather than be released."""
    adapter = deps.adapter(job.chain)
    status = job.status
    resend = status is W.BROADCAST and _refused_last_time(factory, job.key)
    if status is W.HELD or resend:
        # A refused broadcast (node down, hot wallet short) goes out again as the same
        # signed bytes: execute_withdrawal never signs a key twice.
        with transaction(factory) as session:
            source = hot_address(session, deps.keys, job.chain)
        status = execute_withdrawal(
            factory, adapter, deps.signer, job.key, source, worker_id=worker_id
        )
        if status is W.BROADCAST and not resend:
            report.sent.append(job.key)
        if status is W.HELD:
            report.delayed.append((job.key, _error_code(factory, job.key)))
            return True
    if status is W.BROADCAST:
        needed = deps.policy.required(job.asset, job.inr_paise)
        status = settle_withdrawal(
            factory, adapter, job.key, confirmations=needed, worker_id=worker_id
        )
        if status is W.BROADCAST:
            report.pending += 1
    if status is W.POSTED:
        report.posted.append(job.key)
    elif status is W.FAILED:
        report.failed.append(job.key)
    return False


def _error_code(factory: sessionmaker[Session], key: str) -> str:
    with factory() as session:
        code = session.scalar(select(Withdrawal.error_code).where(Withdrawal.key == key))
    return code or "unknown"


def _pause(factory: sessionmaker[Session], job: _Job, worker_id: str, now: datetime | None) -> None:
    """Keep the claim for :data:`RETRY_SECONDS`: no worker tries the row before then."""
    with transaction(factory) as session:
        renew(
            session, Withdrawal, [job.id], worker_id=worker_id, lease_seconds=RETRY_SECONDS, now=now
        )


def advance_withdrawals(
    factory: sessionmaker[Session],
    deps: Callable[[], WithdrawalDeps],
    *,
    worker_id: str,
    now: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    lease_seconds: float = LEASE_SECONDS,
) -> WithdrawalReport:
    """One pass over custody's withdrawal queue (module docstring); safe to run anywhere, often.

    ``deps`` is called only when a withdrawal was claimed, so an idle pass
    builds no signer and no adapter. ``worker_id`` names this worker in the
    leases (:func:`wallet.db.claims.new_worker_id`); ``now`` overrides the
    lease clock (tests; by default PostgreSQL's clock, or this machine's on
    SQLite).
    """
    report = WithdrawalReport()
    jobs = _claim(factory, worker_id=worker_id, now=now, limit=limit, lease_seconds=lease_seconds)
    if not jobs:
        return report
    built = deps()
    for job in jobs:
        try:
            wait = _step(factory, built, job, worker_id, report)
        except Exception as exc:  # one bad row must not stop the batch; retried after a pause
            log.exception("withdrawal %s: step failed; retrying in %ss", job.key, RETRY_SECONDS)
            report.errors.append((job.key, f"{type(exc).__name__}: {str(exc)[:200]}"))
            built.discard(job.chain)
            _pause(factory, job, worker_id, now)
            continue
        if wait:
            _pause(factory, job, worker_id, now)
            continue
        with transaction(factory) as session:
            release(session, Withdrawal, [job.id], worker_id=worker_id)
    return report


__all__ = [
    "LEASE_SECONDS",
    "RETRY_SECONDS",
    "WithdrawalDeps",
    "WithdrawalReport",
    "advance_withdrawals",
    "hot_address",
]
