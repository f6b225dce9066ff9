"""What a payer sees of their deposits (issue 7, "Receive"): pending, then credited.

Read-only and framework-free, shared by the receive page and
``GET /api/v1/wallet/deposits``. Only transfers to the user's own
*custodial* addresses count (a payment's deposit address belongs to that
payment). Status follows :mod:`wallet.custody.deposits`:

- ``pending``: observed (in the mempool or a block) with no ``credits`` row
  yet. Reverted sightings never credit, so they are not shown; our own
  sweeps, gas top-ups and cold moves are excluded the same way crediting
  excludes them.
- ``credited``: a ``credits`` row exists (its amount is what arrived).
- ``reversed``: the credit was reversed after a reorg and no reinstatement
  is live (a live reinstatement makes it ``credited`` again).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.expression import Exists

from wallet.chains.base import ObservationStatus
from wallet.chains.models import ChainBroadcast
from wallet.custody.deposits import INTERNAL_PURPOSES
from wallet.custody.models import CreditReinstatement, CreditReversal
from wallet.db.models.chain import ChainObservation, Credit
from wallet.db.models.users import AddressPurpose, WalletAddress

MAX_LIMIT = 100
# Sightings that may still become a credit (a reverted one never does).
_LIVE_STATUSES = (ObservationStatus.SUCCESS.value, ObservationStatus.MEMPOOL.value)


class DepositStatus(enum.StrEnum):
    PENDING = "pending"
    CREDITED = "credited"
    REVERSED = "reversed"


@dataclass(frozen=True)
class DepositView:
    """One incoming transfer ``(chain, txid, idx)`` as the payer sees it."""

    asset: str
    amount_minor: int
    txid: str
    status: DepositStatus
    seen_at: datetime
    credited_at: datetime | None
    chain: str
    idx: int


def _owned(
    user_id: int, chain_col: QueryableAttribute[str], address_col: QueryableAttribute[str]
) -> Exists:
    """``exists`` clause: the (chain, address) is one of the user's custodial addresses."""
    return exists().where(
        WalletAddress.user_id == user_id,
        WalletAddress.purpose == AddressPurpose.CUSTODIAL,
        WalletAddress.chain == chain_col,
        WalletAddress.address == address_col,
    )


def _pending(session: Session, user_id: int, asset: str | None, limit: int) -> list[DepositView]:
    obs = ChainObservation
    seen = func.min(obs.observed_at).label("seen_at")
    last = func.max(obs.id).label("last_id")
    query = (
        select(obs.chain, obs.txid, obs.idx, seen, last)
        .where(
            _owned(user_id, obs.chain, obs.address),
            obs.status.in_(_LIVE_STATUSES),
            ~exists().where(
                Credit.chain == obs.chain, Credit.txid == obs.txid, Credit.idx == obs.idx
            ),
            # Our own moves between our addresses: never a deposit (see deposits.py).
            ~exists().where(
                ChainBroadcast.chain == obs.chain,
                ChainBroadcast.txid == obs.txid,
                ChainBroadcast.purpose.in_(INTERNAL_PURPOSES),
            ),
        )
        .group_by(obs.chain, obs.txid, obs.idx)
        .order_by(seen.desc(), last.desc())
        .limit(limit)
    )
    if asset is not None:
        query = query.where(obs.asset == asset)
    rows = session.execute(query).all()
    latest = {
        o.id: o for o in session.scalars(select(obs).where(obs.id.in_([r.last_id for r in rows])))
    }
    out = []
    for row in rows:
        sighting = latest[row.last_id]  # the newest sighting carries the current amount
        out.append(
            DepositView(
                asset=sighting.asset,
                amount_minor=int(sighting.amount_minor),
                txid=row.txid,
                status=DepositStatus.PENDING,
                seen_at=row.seen_at,
                credited_at=None,
                chain=row.chain,
                idx=row.idx,
            )
        )
    return out


def _credited(session: Session, user_id: int, asset: str | None, limit: int) -> list[DepositView]:
    first_seen = (
        select(func.min(ChainObservation.observed_at))
        .where(
            ChainObservation.chain == Credit.chain,
            ChainObservation.txid == Credit.txid,
            ChainObservation.idx == Credit.idx,
        )
        .correlate(Credit)
        .scalar_subquery()
    )
    seen = func.coalesce(first_seen, Credit.created_at).label("seen_at")
    live_reinstatement = exists().where(
        CreditReinstatement.credit_id == Credit.id,
        CreditReinstatement.reversal_entry_id.is_(None),
    )
    query = (
        select(Credit, seen, CreditReversal.id.label("reversal_id"), live_reinstatement)
        .outerjoin(CreditReversal, CreditReversal.credit_id == Credit.id)
        .where(_owned(user_id, Credit.chain, Credit.address))
        .order_by(seen.desc(), Credit.id.desc())
        .limit(limit)
    )
    if asset is not None:
        query = query.where(Credit.asset == asset)
    out = []
    for credit, seen_at, reversal_id, reinstated in session.execute(query).all():
        reversed_ = reversal_id is not None and not reinstated
        out.append(
            DepositView(
                asset=credit.asset,
                amount_minor=int(credit.amount_minor),
                txid=credit.txid,
                status=DepositStatus.REVERSED if reversed_ else DepositStatus.CREDITED,
                seen_at=seen_at,
                credited_at=credit.created_at,
                chain=credit.chain,
                idx=credit.idx,
            )
        )
    return out


def recent_deposits(
    session: Session, user_id: int, asset: str | None = None, limit: int = 20
) -> list[DepositView]:
    """The user's latest deposits (any asset, or ``asset``), newest sighting first."""
    limit = max(1, min(limit, MAX_LIMIT))
    rows = _pending(session, user_id, asset, limit) + _credited(session, user_id, asset, limit)
    rows.sort(key=lambda d: (d.seen_at, d.credited_at is not None), reverse=True)
    return rows[:limit]
