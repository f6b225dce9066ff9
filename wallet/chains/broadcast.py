"""Idempotent sends: record the signed transaction first, then (re)broadcast it.

:func:`send` with a key we have seen re-sends the *stored* signed bytes —
same txid, same nonce — instead of building a new transaction, so a
timeout or a dropped response can be retried blindly (RELIABILITY.md G3).
The record is committed before the first network call; an ambiguous
failure leaves it ``signed``/``sent`` and the next call looks the outcome
up. That look-up never records ``confirmed``: how deep a transaction must
be is the caller's rule (a withdrawal's depends on its asset and value), so
only :func:`refresh`, with the caller's ``confirmations``, records it.
:func:`refresh` maps the chain's view onto the record:

- EVM: receipt in the best chain → confirmed/failed; the nonce taken by
  another transaction → dropped (replaced).
- Solana: past ``lastValidBlockHeight`` with the signature unknown →
  dropped, definitively (the blockhash can never be valid again).
- UTXO: unknown to the node and its inputs spent elsewhere → dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from wallet.chains.base import ChainAdapter, SignedTransfer, TransferIntent, TxState, TxStatus
from wallet.chains.models import BroadcastStatus, ChainBroadcast
from wallet.custody.errors import BroadcastConflict, ChainError
from wallet.custody.signer import Signer
from wallet.db.session import transaction

log = logging.getLogger(__name__)
security = logging.getLogger("wallet.security")

TERMINAL = frozenset({BroadcastStatus.CONFIRMED, BroadcastStatus.FAILED, BroadcastStatus.DROPPED})


@dataclass(frozen=True, slots=True)
class BroadcastView:
    """A snapshot of a broadcast record (safe to use after the session closed)."""

    key: str
    txid: str
    status: BroadcastStatus
    nonce: int | None
    last_valid_height: int | None
    error: str | None


def _view(row: ChainBroadcast) -> BroadcastView:
    return BroadcastView(row.key, row.txid, row.status, row.nonce, row.last_valid_height, row.error)


def _signed(row: ChainBroadcast) -> SignedTransfer:
    return SignedTransfer(row.txid, row.raw_tx, row.nonce, row.last_valid_height, row.fee_minor)


def _same(row: ChainBroadcast, intent: TransferIntent) -> bool:
    return (
        row.chain == intent.chain.value
        and row.asset == intent.asset
        and row.from_address == intent.from_address
        and row.to_address == intent.to_address
        and row.amount_minor == intent.amount_minor
    )


def _find(session: Session, key: str, lock: bool = False) -> ChainBroadcast | None:
    query = select(ChainBroadcast).where(ChainBroadcast.key == key)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def send(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    signer: Signer,
    intent: TransferIntent,
) -> BroadcastView:
    """Sign once per key, broadcast as often as asked; returns the record's state."""
    with transaction(factory) as session:
        row = _find(session, intent.key)
        if row is None:
            signed = adapter.build_and_sign(session, intent, signer)
            row = ChainBroadcast(
                key=intent.key,
                chain=intent.chain.value,
                asset=intent.asset,
                purpose=intent.purpose.value,
                from_address=intent.from_address,
                to_address=intent.to_address,
                amount_minor=intent.amount_minor,
                txid=signed.txid,
                raw_tx=signed.raw,
                nonce=signed.nonce,
                last_valid_height=signed.last_valid_height,
                fee_minor=signed.fee_minor,
            )
            session.add(row)
            session.flush()
        elif not _same(row, intent):
            raise BroadcastConflict(f"idempotency key {intent.key!r} was used for another transfer")
        view = _view(row)
        signed = _signed(row)
    if view.status in TERMINAL:
        return view
    if view.status is not BroadcastStatus.SIGNED:
        # A retry: look the outcome up before re-sending (a failure or drop is recorded;
        # a landed transaction is left ``sent`` for refresh to judge at the caller's depth).
        status = _outcome(factory, adapter, intent.key, signed)
        if status is None:
            return _set(factory, intent.key, BroadcastStatus.SENT, None)
        if status in TERMINAL:
            return _view_of(factory, intent.key)
    try:
        adapter.broadcast(signed)
    except ChainError as exc:
        log.warning("broadcast %s failed: %s", intent.key, exc)
        return _set(factory, intent.key, BroadcastStatus.SENT, str(exc))
    return _set(factory, intent.key, BroadcastStatus.SENT, None)


def _set(
    factory: sessionmaker[Session], key: str, status: BroadcastStatus, error: str | None
) -> BroadcastView:
    with transaction(factory) as session:
        row = _find(session, key, lock=True)
        if row is None:  # pragma: no cover - written above
            raise ChainError(f"broadcast {key} vanished")
        if row.status not in TERMINAL:
            row.status = status
            row.error = error
        session.flush()
        return _view(row)


def _view_of(factory: sessionmaker[Session], key: str) -> BroadcastView:
    with transaction(factory) as session:
        row = _find(session, key)
        if row is None:  # pragma: no cover - written before any look-up
            raise ChainError(f"no broadcast with key {key!r}")
        return _view(row)


def _outcome(
    factory: sessionmaker[Session], adapter: ChainAdapter, key: str, signed: SignedTransfer
) -> BroadcastStatus | None:
    """Record a failed or dropped transaction; None when it is in a block (at any depth).

    Returns the recorded status otherwise (``sent`` for pending or unknown:
    worth sending again).
    """
    status: TxStatus = adapter.tx_status(signed)
    if status.state is TxState.CONFIRMED:
        return None
    if status.state is TxState.FAILED:
        security.warning("security.own_tx_reverted key=%s txid=%s", key, signed.txid)
        return _set(factory, key, BroadcastStatus.FAILED, "reverted").status
    if status.state is TxState.DROPPED:
        security.warning("security.own_tx_dropped key=%s txid=%s", key, signed.txid)
        return _set(factory, key, BroadcastStatus.DROPPED, "dropped").status
    return BroadcastStatus.SENT


def signed_transfer(factory: sessionmaker[Session], key: str) -> SignedTransfer | None:
    """The stored signed transaction of ``key`` (None: nothing was signed under it)."""
    with transaction(factory) as session:
        row = _find(session, key)
        return None if row is None else _signed(row)


def refresh(
    factory: sessionmaker[Session], adapter: ChainAdapter, key: str, *, confirmations: int
) -> BroadcastView:
    """Ask the chain what became of a broadcast and record it (terminal states stick).

    ``confirmations`` is the caller's rule: the depth at which the transaction
    counts as ``confirmed`` (required, so nothing records it at a default).
    """
    if confirmations < 1:
        raise ValueError("a transaction counts as confirmed at one block at the least")
    with transaction(factory) as session:
        row = _find(session, key)
        if row is None:
            raise ChainError(f"no broadcast with key {key!r}")
        if row.status in TERMINAL:
            return _view(row)
        signed = _signed(row)
    status: TxStatus = adapter.tx_status(signed)
    if status.state is TxState.CONFIRMED and status.confirmations >= confirmations:
        return _set(factory, key, BroadcastStatus.CONFIRMED, None)
    if status.state is TxState.FAILED:
        security.warning("security.own_tx_reverted key=%s txid=%s", key, signed.txid)
        return _set(factory, key, BroadcastStatus.FAILED, "reverted")
    if status.state is TxState.DROPPED:
        security.warning("security.own_tx_dropped key=%s txid=%s", key, signed.txid)
        return _set(factory, key, BroadcastStatus.DROPPED, "dropped")
    return _view_of(factory, key)
