"""User withdrawals to external addresses: validate, hold, broadcast, confirm, post.

1. :func:`request_withdrawal` — the address is validated for its chain
   (checksums), the amount against the platform's limits, and a ledger
   hold (``withdrawal:<key>``) reserves it on the user's wallet, all in the
   caller's transaction. Idempotent on our ``key``.
2. :func:`execute_withdrawal` — sends from the hot wallet through
   :func:`wallet.chains.broadcast.send` (signed once, re-sent on retry).
   An error before anything was signed is either a *refusal* or a *delay*
   (:func:`wallet.custody.errors.is_refusal`):

   - refusals that no retry can change — the signer's per-transaction cap,
     its allowlist or payload checks, an invalid address, a reused key —
     fail the withdrawal and void the hold at once (the coins are the
     payer's again);
   - delays — a node or transport error while building (``ChainError``),
     the signer's daily cap reached, the master key or a seed unavailable,
     the hot wallet short of funds (a sweep refills it) — leave it ``held``
     with the reason in ``error_code``; the worker tries again after a
     pause, and ``withdrawal_stuck`` alerts if it stays held too long
     (:func:`wallet.alerts.conditions.withdrawals_stuck`).
3. :func:`settle_withdrawal` — confirmed on chain → the hold is posted
   (user wallet → hot wallet leaves our books); reverted or definitively
   dropped → the hold is voided and the withdrawal failed.

A withdrawal the risk engine sends to review is parked in
``held_for_review`` with the same hold and nothing signed
(:mod:`wallet.custody.withdrawal_review`): :func:`execute_withdrawal`
ignores it until an admin releases it to ``held``; a rejection voids the
hold (``rejected``).

**Network fees are the platform's, not the user's.** The user is debited
exactly the amount they asked to send and the payee receives exactly that;
the hot wallet pays the gas / miner fee (and on Solana the rent of a
payee's new token account). Once the transaction has landed — confirmed,
or reverted, which still burns gas — the fee actually paid is booked
``expense:network_fees:<NATIVE>`` Dr / ``hot:<chain>:<NATIVE>`` Cr
(:mod:`wallet.custody.fees`, one entry per withdrawal, kind
``network_fee``, ref ``withdrawal:<key>``). Users see a round amount and
an unchanging quote; the cost is priced into the platform fee instead.

**Who moves them.** Custody's withdrawal worker
(:func:`wallet.custody.withdrawal_worker.advance_withdrawals`, run by a
Dagster sensor) claims ``held`` and ``broadcast`` rows with a lease and
calls :func:`execute_withdrawal` / :func:`settle_withdrawal` with its
``worker_id``: their status changes are then fenced by the lease, so a
worker that stalled past its lease changes nothing (the signature itself is
keyed by our hold ref, so it is made at most once whoever sends).

Left to do: a dropped EVM withdrawal is not re-tried with a fee bump.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import Chain, get_asset
from wallet.chains.addresses import validate_address
from wallet.chains.base import ChainAdapter, Purpose, TransferIntent
from wallet.chains.broadcast import BroadcastView, refresh, send, signed_transfer
from wallet.chains.models import BroadcastStatus, ChainBroadcast
from wallet.chains.networks import ChainNetwork
from wallet.custody.errors import (
    ChainError,
    CustodyError,
    WithdrawalRefused,
    is_refusal,
)
from wallet.custody.fees import book_network_fee
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.custody.signer import Signer
from wallet.db.base import utcnow
from wallet.db.session import transaction
from wallet.ledger import place_hold, post_hold, user_wallet, void_hold

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WithdrawalLimits:
    """Platform limits per asset in minor units (the signer has its own, stricter ones)."""

    minimum: Mapping[str, int]
    maximum: Mapping[str, int]


def hold_ref(key: str) -> str:
    """The ledger hold reserving a withdrawal's coins (placed on request, posted or voided)."""
    return f"withdrawal:{key}"


def request_withdrawal(
    session: Session,
    *,
    key: str,
    user_id: int,
    net: ChainNetwork,
    asset: str,
    to_address: str,
    amount_minor: int,
    limits: WithdrawalLimits,
) -> Withdrawal:
    """Validate and reserve; a repeated ``key`` returns the first withdrawal."""
    existing = session.scalars(select(Withdrawal).where(Withdrawal.key == key)).one_or_none()
    if existing is not None:
        return existing
    spec = get_asset(asset)
    if spec.chain is not net.chain:
        raise WithdrawalRefused(f"{asset} does not live on {net.chain.value}")
    address = validate_address(net, to_address)
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise WithdrawalRefused("amounts are integer minor units")
    low, high = limits.minimum.get(asset), limits.maximum.get(asset)
    if low is None or high is None or not low <= amount_minor <= high:
        raise WithdrawalRefused(f"{asset} withdrawals must be between {low} and {high}")
    place_hold(session, user_wallet(user_id, asset), asset, amount_minor, ref=hold_ref(key))
    row = Withdrawal(
        key=key,
        user_id=user_id,
        chain=net.chain.value,
        asset=asset,
        to_address=address,
        amount_minor=amount_minor,
    )
    session.add(row)
    session.flush()
    return row


def _fail(session: Session, row: Withdrawal, code: str) -> None:
    void_hold(session, hold_ref(row.key))
    row.status = WithdrawalStatus.FAILED
    row.error_code = code
    session.flush()


def _locked(session: Session, key: str) -> Withdrawal:
    return session.scalars(
        select(Withdrawal)
        .where(Withdrawal.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _lease_lost(row: Withdrawal, worker_id: str | None) -> bool:
    """A fenced caller (the worker) no longer holds the row: it must change nothing."""
    if worker_id is not None and row.claimed_by != worker_id:
        log.warning("withdrawal %s: lease lost by %s, leaving it alone", row.key, worker_id)
        return True
    return False


def execute_withdrawal(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    signer: Signer,
    key: str,
    hot_address: str,
    *,
    worker_id: str | None = None,
) -> WithdrawalStatus:
    """Sign and broadcast (once per key); a refusal before broadcast voids the hold.

    A delay (:func:`is_refusal` is false) leaves the withdrawal ``held``
    with the reason in ``error_code`` and returns ``held``. With
    ``worker_id`` (a claimed row) the status change is made only while that
    worker still holds the row's lease.
    """
    with transaction(factory) as session:
        row = session.scalars(select(Withdrawal).where(Withdrawal.key == key)).one()
        if row.status is not WithdrawalStatus.HELD and row.status is not WithdrawalStatus.BROADCAST:
            return row.status
        if _lease_lost(row, worker_id):
            return row.status
        intent = TransferIntent(
            hold_ref(key),
            Chain(row.chain),
            row.asset,
            hot_address,
            row.to_address,
            row.amount_minor,
            Purpose.WITHDRAWAL,
        )
    try:
        view = send(factory, adapter, signer, intent)
    except (CustodyError, ChainError) as exc:
        refused = is_refusal(exc)
        log.warning(
            "withdrawal %s %s before broadcast: %s",
            key,
            "refused" if refused else "delayed",
            exc.code,
        )
        with transaction(factory) as session:
            row = _locked(session, key)
            if row.status is not WithdrawalStatus.HELD or _lease_lost(row, worker_id):
                return row.status
            if not refused:
                row.error_code = exc.code  # why it waits; cleared once it is broadcast
                session.flush()
                return row.status
            # This call recorded nothing as signed, so nothing of ours is on its way: safe to
            # void, unless another sender (a lease that ran out under us) signed it meanwhile.
            signed = session.scalar(
                select(ChainBroadcast.id).where(ChainBroadcast.key == hold_ref(key))
            )
            if signed is not None:
                return row.status  # signed by another sender: the next call records it sent
            _fail(session, row, exc.code)
            return row.status
    with transaction(factory) as session:
        row = _locked(session, key)
        if row.status in (WithdrawalStatus.FAILED, WithdrawalStatus.REJECTED):
            log.error("withdrawal %s was broadcast (%s) but is %s", key, view.txid, row.status)
        if row.status is not WithdrawalStatus.HELD or _lease_lost(row, worker_id):
            return row.status
        row.txid = view.txid
        row.status = WithdrawalStatus.BROADCAST
        row.error_code = None
        # When it left the queue for the chain: withdrawals_stuck measures ``broadcast`` from here.
        row.detail = {**(row.detail or {}), "broadcast_at": utcnow().isoformat()}
        session.flush()
        return row.status


def _fee_paid(
    factory: sessionmaker[Session], adapter: ChainAdapter, key: str, view: BroadcastView
) -> int | None:
    """The fee a landed withdrawal paid (None while pending, or when dropped: none paid)."""
    if view.status not in (BroadcastStatus.CONFIRMED, BroadcastStatus.FAILED):
        return None
    signed = signed_transfer(factory, view.key)
    if signed is None:  # pragma: no cover - a terminal broadcast has its record
        return None
    with transaction(factory) as session:
        row = session.scalars(select(Withdrawal).where(Withdrawal.key == key)).one()
        native_out = row.amount_minor if get_asset(row.asset).is_native else 0
    return adapter.fee_paid(signed, native_out)


def settle_withdrawal(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    key: str,
    *,
    confirmations: int = 1,
    worker_id: str | None = None,
) -> WithdrawalStatus:
    """Post the hold once confirmed; void it if the transaction failed or was dropped.

    ``confirmations`` is the depth the transaction must reach; with
    ``worker_id`` the change is made only while that worker holds the lease.
    """
    view = refresh(factory, adapter, hold_ref(key), confirmations=confirmations)
    fee = _fee_paid(factory, adapter, key, view)
    with transaction(factory) as session:
        row = _locked(session, key)
        if row.status is not WithdrawalStatus.BROADCAST or _lease_lost(row, worker_id):
            return row.status
        if fee is not None:
            book_network_fee(session, row.chain, view.key, fee, memo=f"withdrawal {view.txid}")
        if view.status is BroadcastStatus.CONFIRMED:
            post_hold(
                session,
                hold_ref(key),
                [(f"hot:{row.chain}:{row.asset}", row.amount_minor)],
                memo=f"withdrawal {view.txid}",
            )
            row.status = WithdrawalStatus.POSTED
        elif view.status in (BroadcastStatus.FAILED, BroadcastStatus.DROPPED):
            _fail(session, row, f"broadcast_{view.status.value}")
        session.flush()
        return row.status
