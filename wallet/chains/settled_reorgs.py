"""Settled external payments whose deposit left the best chain: a loss to chase at once.

:mod:`wallet.chains.confirmations` follows an external payment only until it
is settled (or parked for review): after that the vendor may already have
been paid, so a reorg cannot move the payment back. If the payer's transfer
is not re-mined, we paid out rupees for coins we do not have. The daily
reconciliation would show it as ``onchain_balance_mismatch`` (the chain short
of ``escrow:``), a day late and without naming the payment; this module finds
the payment itself, right after the reorg.

It runs in the confirmations run that the chains sensor requests after every
reorg (``assets.chains.chain_confirmations``), never on a quiet tick. Only
deposits seen in the last :data:`HORIZON_BLOCKS` blocks can have been
reorged, so older payments cost nothing. Each payment gone fires one
critical alert ``settled_deposit_reorged:<payment id>`` (deduped by key);
what to do (wait for re-inclusion, ask the payer, book the loss) is an
operator's decision, so nothing is booked here.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from wallet.alerts.core import Alert, Alerter, Severity
from wallet.assets import REGISTRY
from wallet.chains.base import ChainAdapter, ObservationStatus
from wallet.custody.deposits import _BestChain
from wallet.db.models.chain import ChainObservation
from wallet.db.models.payments import Payment, PaymentSource
from wallet.payments.states import PaymentStatus

S = PaymentStatus
# Past confirmed: the payment is no longer followed by the confirmation rules.
SETTLED = (S.HELD_FOR_REVIEW, S.SETTLING, S.PAID_OUT, S.COMPLETED, S.PAYOUT_REVERSED)
# Deeper than any reorg we expect on our chains (a week of Bitcoin, hours of Ethereum).
HORIZON_BLOCKS = 1_000
KIND = "settled_deposit_reorged"


def settled_deposits_gone(factory: sessionmaker[Session], adapter: ChainAdapter) -> list[str]:
    """Ids of settled external payments on the adapter's chain with no deposit left on it."""
    chain = adapter.chain.value
    assets = [symbol for symbol, spec in REGISTRY.items() if spec.chain is adapter.chain]
    floor = adapter.head().height - HORIZON_BLOCKS
    on_address = (
        (ChainObservation.chain == chain)
        & (ChainObservation.address == Payment.deposit_address)
        & (ChainObservation.asset == Payment.asset)
        & (ChainObservation.status == ObservationStatus.SUCCESS.value)
    )
    settled = (
        (Payment.source == PaymentSource.EXTERNAL)
        & Payment.status.in_(SETTLED)
        & Payment.asset.in_(assets)
    )
    with factory() as session:
        recent = (
            select(Payment.id)
            .join(ChainObservation, on_address)
            .where(settled, ChainObservation.block_number >= floor)
        )
        rows = session.execute(
            select(Payment.id, ChainObservation.block_number, ChainObservation.block_hash)
            .join(ChainObservation, on_address)
            .where(Payment.id.in_(recent))
            .order_by(Payment.id)
        ).all()
    blocks: dict[str, list[tuple[int | None, str | None]]] = defaultdict(list)
    for payment_id, height, block_hash in rows:
        blocks[payment_id].append((height, block_hash))
    best = _BestChain(adapter)
    return [
        payment_id
        for payment_id, seen in blocks.items()
        if not any(
            (height is not None and height < floor) or best.has(height, block_hash)
            for height, block_hash in seen
        )
    ]


def alert_settled_deposits_gone(
    factory: sessionmaker[Session], adapter: ChainAdapter, alerts: Alerter
) -> list[str]:
    """Fire one critical alert per settled payment whose deposit left the chain; their ids."""
    gone = settled_deposits_gone(factory, adapter)
    for payment_id in gone:
        alerts.fire(
            Alert(
                kind=KIND,
                key=f"{KIND}:{payment_id}",
                severity=Severity.CRITICAL,
                message=(
                    f"external payment {payment_id} is settled but its deposit is no longer "
                    f"on the best {adapter.chain.value} chain (reorg): check for re-inclusion, "
                    "then decide the loss"
                ),
                data={"payment_id": payment_id, "chain": adapter.chain.value},
            )
        )
    return gone
