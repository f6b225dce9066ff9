"""Selling collected crypto: one batch per asset per window, along the quote's route.

A batch (``sell_batches``) claims every collected, unsold payment of one
asset and is committed before any order is sent. Each leg's order gets the
client order id ``<batch id>-<leg>-<n>`` and an ``exchange_orders`` row
before it is sent; :meth:`ExchangeClient.market_sell` looks the id up
before sending, and again after any ambiguous answer (``-1007``, timeout,
dropped connection), so a rerun never sells twice. An order that filled
only partly (a thin book expires the rest) is completed by the next ``n``.
Every fill is posted at once (``sell.fill``, ref = client order id); when
the last leg is done, the batch's FX result is posted, the batch is booked
and its paid-out payments are completed, in one transaction.

Failover: before anything is sent, if the route's first venue is down or
its book cannot take the quantity, and the INR venue lists ``<ASSET>INR``,
the batch switches to that one-leg route (recorded on the batch, so a rerun
follows the same route). If no venue can take it, the batch waits — the
vendors are already paid and the float absorbs the delay.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import get_asset
from wallet.db.models.payments import Payment, Quote
from wallet.db.models.settlement import ExchangeOrder, OrderSide
from wallet.db.models.settlement import OrderStatus as RowStatus
from wallet.db.session import transaction
from wallet.exchanges.base import ExchangeClient
from wallet.exchanges.errors import (
    ExchangeError,
    ExchangeUnavailable,
    OrderOutcomeUnknown,
    OrderRejected,
)
from wallet.exchanges.types import Order, SymbolRules, plain
from wallet.money import Rounding, parse_minor, to_decimal
from wallet.payments.states import PaymentStatus
from wallet.payments.transitions import lock_payment, transition
from wallet.settlement import ledger
from wallet.settlement.crash import crash_point
from wallet.settlement.errors import SellWaiting
from wallet.settlement.models import SellBatch, SellBatchItem, SellBatchStatus

log = logging.getLogger(__name__)
ACTOR = "system:settlement"
SELLABLE = (PaymentStatus.SETTLING, PaymentStatus.PAID_OUT)
FAILOVER_VENUE = "inr"
_ROW_STATUS = {
    "NEW": RowStatus.OPEN,
    "PENDING_NEW": RowStatus.OPEN,
    "PARTIALLY_FILLED": RowStatus.PARTIALLY_FILLED,
    "FILLED": RowStatus.FILLED,
    "CANCELED": RowStatus.CANCELLED,
    "PENDING_CANCEL": RowStatus.OPEN,
    "REJECTED": RowStatus.REJECTED,
    "EXPIRED": RowStatus.EXPIRED,
    "EXPIRED_IN_MATCH": RowStatus.EXPIRED,
}


class BelowMinimum(SellWaiting):
    """The batch is too small for the venue: it is dissolved to grow with later payments."""

    code = "settlement_sell_below_minimum"


@dataclass(frozen=True)
class Leg:
    venue: str
    symbol: str
    base: str
    quote: str


def _legs(route: Mapping[str, Any]) -> list[Leg]:
    return [Leg(x["venue"], x["symbol"], x["base"], x["quote"]) for x in route.get("legs", [])]


def to_minor(value: Decimal, asset: str) -> int:
    """A venue Decimal in ``asset`` minor units, rounded down (we never count dust we lack)."""
    return parse_minor(plain(value), get_asset(asset).decimals, Rounding.DOWN)


def maybe_complete(session: Session, payment_id: str) -> bool:
    """Complete a paid-out payment whose crypto has been sold and booked."""
    payment = lock_payment(session, payment_id)
    if payment.status is not PaymentStatus.PAID_OUT:
        return False
    booked = session.scalars(
        select(SellBatch.id)
        .join(SellBatchItem, SellBatchItem.batch_id == SellBatch.id)
        .where(SellBatchItem.payment_id == payment_id, SellBatch.status == SellBatchStatus.BOOKED)
    ).first()
    if booked is None:
        return False
    transition(
        session, payment_id, PaymentStatus.COMPLETED, f"crypto sold in batch {booked}", actor=ACTOR
    )
    return True


def sellable_assets(session: Session) -> list[str]:
    """Assets with an unfinished batch or collected payments not yet in a batch."""
    unfinished = session.scalars(
        select(SellBatch.asset).where(SellBatch.status != SellBatchStatus.BOOKED).distinct()
    )
    waiting = session.scalars(
        select(Payment.asset)
        .outerjoin(SellBatchItem, SellBatchItem.payment_id == Payment.id)
        .where(Payment.status.in_(SELLABLE), SellBatchItem.id.is_(None))
        .distinct()
    )
    return sorted(set(unfinished) | set(waiting))


def window_key(now: datetime, window_seconds: int) -> str:
    """The sell window ``now`` falls in: one batch per asset per window."""
    return str(int(now.timestamp()) // max(window_seconds, 1))


def open_batch(
    session: Session, asset: str, now: datetime, window_seconds: int
) -> SellBatch | None:
    """The asset's unfinished batch, or a new one claiming every waiting payment."""
    unfinished = session.scalars(
        select(SellBatch)
        .where(SellBatch.asset == asset, SellBatch.status != SellBatchStatus.BOOKED)
        .order_by(SellBatch.created_at)
    ).first()
    if unfinished is not None:
        return unfinished
    key = window_key(now, window_seconds)
    taken = session.scalars(
        select(SellBatch.id).where(SellBatch.asset == asset, SellBatch.window_key == key)
    ).first()
    if taken is not None:
        return None  # this window already sold once; the rest waits for the next
    rows = session.execute(
        select(Payment, Quote)
        .join(Quote, Quote.id == Payment.quote_id)
        .outerjoin(SellBatchItem, SellBatchItem.payment_id == Payment.id)
        .where(Payment.asset == asset, Payment.status.in_(SELLABLE), SellBatchItem.id.is_(None))
        .order_by(Payment.created_at)
        .with_for_update(of=Payment)
    ).all()
    if not rows:
        return None
    batch = SellBatch(
        id=uuid.uuid4().hex,
        asset=asset,
        window_key=key,
        route=dict(rows[0][1].route),
        qty_minor=sum(p.amount_minor for p, _ in rows),
        target_paise=sum(ledger.target_paise(q) for _, q in rows),
        status=SellBatchStatus.PENDING,
    )
    session.add(batch)
    session.flush()
    session.add_all(
        SellBatchItem(
            batch_id=batch.id,
            payment_id=p.id,
            amount_minor=p.amount_minor,
            target_paise=ledger.target_paise(q),
        )
        for p, q in rows
    )
    session.flush()
    return batch


def claim(factory: sessionmaker[Session], batch_id: str, now: datetime, lease_s: float) -> bool:
    """Take the batch's lease: one seller at a time (client ids are unique only while open)."""
    with transaction(factory) as session:
        result = session.execute(
            update(SellBatch)
            .where(
                SellBatch.id == batch_id,
                SellBatch.status != SellBatchStatus.BOOKED,
                or_(SellBatch.lease_until.is_(None), SellBatch.lease_until < now),
            )
            .values(lease_until=now + timedelta(seconds=lease_s))
        )
        return bool(getattr(result, "rowcount", 0))


def release(factory: sessionmaker[Session], batch_id: str) -> None:
    with transaction(factory) as session:
        session.execute(update(SellBatch).where(SellBatch.id == batch_id).values(lease_until=None))


def dissolve(factory: sessionmaker[Session], batch_id: str) -> None:
    """Undo a batch that never sent an order, so its payments join a bigger one later."""
    with transaction(factory) as session:
        batch = session.get(SellBatch, batch_id, with_for_update=True)
        orders = session.scalars(
            select(ExchangeOrder.id).where(ExchangeOrder.client_order_id.like(f"{batch_id}-%"))
        ).first()
        if batch is None or orders is not None or batch.status is not SellBatchStatus.PENDING:
            return
        session.execute(delete(SellBatchItem).where(SellBatchItem.batch_id == batch_id))
        session.delete(batch)


class Seller:
    """Runs one batch to completion (or until a venue makes it wait)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        exchanges: Mapping[str, ExchangeClient],
    ) -> None:
        self._factory = factory
        self._exchanges = exchanges

    def run(self, batch_id: str) -> SellBatch:
        batch = self._load(batch_id)
        legs = self._route(batch)
        leg_input = batch.qty_minor
        for i, leg in enumerate(legs):
            leg_input = self._sell_leg(batch.id, i, leg, leg_input)
        with transaction(self._factory) as session:
            batch = session.get_one(
                SellBatch, batch_id, with_for_update=True, populate_existing=True
            )
            if batch.status is not SellBatchStatus.BOOKED:
                batch.proceeds_paise = leg_input
                ledger.post_fx(session, batch.id, leg_input, batch.target_paise)
                batch.status = SellBatchStatus.BOOKED
                batch.lease_until = None
                members = session.scalars(
                    select(SellBatchItem.payment_id).where(SellBatchItem.batch_id == batch.id)
                ).all()
                session.flush()
                for payment_id in members:
                    maybe_complete(session, payment_id)
                crash_point("before_final_commit")
            return batch

    def _load(self, batch_id: str) -> SellBatch:
        with self._factory() as session:
            return session.get_one(SellBatch, batch_id)

    def _orders(self, batch_id: str) -> list[ExchangeOrder]:
        with self._factory() as session:
            return list(
                session.scalars(
                    select(ExchangeOrder).where(ExchangeOrder.client_order_id.like(f"{batch_id}-%"))
                )
            )

    def _route(self, batch: SellBatch) -> list[Leg]:
        """The batch's legs, failing over to the INR venue while nothing has been sent."""
        legs = _legs(batch.route)
        if not legs:
            raise SellWaiting(f"batch {batch.id} has no route")
        if self._orders(batch.id):
            return legs  # committed to this route: its orders may exist at the venue
        first = legs[0]
        if self._can_take(first, batch.qty_minor):
            return legs
        alt = self._failover(batch)
        if alt is None:
            raise SellWaiting(f"no venue can sell {batch.asset} now; the sale waits")
        with transaction(self._factory) as session:
            row = session.get_one(SellBatch, batch.id, with_for_update=True)
            row.route = {
                "description": f"{batch.asset}→INR@{FAILOVER_VENUE} (failover)",
                "legs": [alt.__dict__],
                "failover_from": batch.route.get("description"),
            }
        log.warning("batch %s fails over to %s", batch.id, alt.symbol)
        return [alt]

    def _can_take(self, leg: Leg, qty_minor: int) -> bool:
        client = self._exchanges.get(leg.venue)
        if client is None:
            return False
        try:
            book = client.order_book(leg.symbol)
        except ExchangeError as exc:
            log.warning("venue %s unavailable for %s: %s", leg.venue, leg.symbol, exc.code)
            return False
        depth = sum((level.qty for level in book.bids), Decimal(0))
        return depth >= to_decimal(qty_minor, get_asset(leg.base).decimals)

    def _failover(self, batch: SellBatch) -> Leg | None:
        client = self._exchanges.get(FAILOVER_VENUE)
        legs = _legs(batch.route)
        if client is None or (len(legs) == 1 and legs[0].venue == FAILOVER_VENUE):
            return None
        base = legs[0].base
        leg = Leg(FAILOVER_VENUE, f"{base}INR", base, "INR")
        try:
            client.symbol_rules(leg.symbol)
        except ExchangeError:
            return None
        return leg if self._can_take(leg, batch.qty_minor) else None

    def _sell_leg(self, batch_id: str, index: int, leg: Leg, input_minor: int) -> int:
        """Sell ``input_minor`` of the leg's base; return the net proceeds in its quote."""
        client = self._exchanges.get(leg.venue)
        if client is None:  # the venue was switched off after this route was committed
            raise SellWaiting(f"venue {leg.venue} is not enabled; {batch_id} waits")
        rules: SymbolRules | None = None
        consumed = proceeds = 0
        for n in range(10):
            coid = f"{batch_id}-{index}-{n}"
            row = self._order_row(coid)
            if row is None:
                rules = rules or client.symbol_rules(leg.symbol)
                qty = rules.floor_qty(
                    to_decimal(input_minor - consumed, get_asset(leg.base).decimals)
                )
                if qty <= 0 or qty < rules.min_qty:
                    break  # dust below the lot size stays in inventory
                if rules.min_notional and qty * client.ticker(leg.symbol).bid < rules.min_notional:
                    if index == 0 and n == 0:
                        raise BelowMinimum(f"{qty} {leg.base} is below {leg.symbol}'s minimum")
                    break  # a remainder too small to sell stays in inventory
                row = self._record_order(coid, leg, to_minor(qty, leg.base))
            if row.status in (
                RowStatus.NEW,
                RowStatus.OPEN,
                RowStatus.UNKNOWN,
                RowStatus.PARTIALLY_FILLED,
            ):
                qty = to_decimal(row.qty, get_asset(leg.base).decimals)
                try:
                    order = client.market_sell(leg.symbol, qty, coid)
                except (ExchangeUnavailable, OrderOutcomeUnknown) as exc:
                    self._mark_unknown(coid, RowStatus.UNKNOWN, exc)
                    raise SellWaiting(f"{leg.symbol} {coid}: {exc.code}") from exc
                except OrderRejected as exc:  # nothing executed; an operator must look
                    self._mark_unknown(coid, RowStatus.REJECTED, exc)
                    raise SellWaiting(f"{leg.symbol} {coid} rejected: {exc.message}") from exc
                crash_point("after_sell")
                row = self._book_order(coid, leg, order)
            consumed += row.filled_qty
            proceeds += row.quote_qty
            if row.status is RowStatus.FILLED or row.filled_qty >= row.qty:
                break
            if row.status in (RowStatus.OPEN, RowStatus.PARTIALLY_FILLED):
                raise SellWaiting(f"{coid} is still open at {leg.venue}")
            if row.status is RowStatus.REJECTED:
                raise SellWaiting(f"{coid} was rejected by {leg.venue}; needs review")
        return proceeds

    def _order_row(self, coid: str) -> ExchangeOrder | None:
        with self._factory() as session:
            return session.scalars(
                select(ExchangeOrder).where(ExchangeOrder.client_order_id == coid)
            ).one_or_none()

    def _record_order(self, coid: str, leg: Leg, qty_minor: int) -> ExchangeOrder:
        with transaction(self._factory) as session:
            row = ExchangeOrder(
                client_order_id=coid,
                venue=leg.venue,
                symbol=leg.symbol,
                base_asset=leg.base,
                quote_asset=leg.quote,
                side=OrderSide.SELL,
                qty=qty_minor,
                status=RowStatus.NEW,
            )
            session.add(row)
            session.execute(
                update(SellBatch)
                .where(
                    SellBatch.id == coid.split("-", 1)[0],
                    SellBatch.status == SellBatchStatus.PENDING,
                )
                .values(status=SellBatchStatus.SELLING)
            )
        return row

    def _mark_unknown(self, coid: str, status: RowStatus, exc: ExchangeError) -> None:
        with transaction(self._factory) as session:
            session.execute(
                update(ExchangeOrder)
                .where(
                    and_(
                        ExchangeOrder.client_order_id == coid,
                        ExchangeOrder.status.in_([RowStatus.NEW, RowStatus.UNKNOWN]),
                    )
                )
                .values(status=status, raw={"error": exc.code, "message": exc.message[:300]})
            )

    def _book_order(self, coid: str, leg: Leg, order: Order) -> ExchangeOrder:
        """Store the venue's answer and post its fill, once (entry keyed by client id)."""
        commissions = order.commissions()
        sold = to_minor(order.executed_qty + commissions.get(leg.base, Decimal(0)), leg.base)
        fee_quote = commissions.get(leg.quote, Decimal(0))
        net = to_minor(order.cumulative_quote_qty - fee_quote, leg.quote)
        with transaction(self._factory) as session:
            row = session.scalars(
                select(ExchangeOrder)
                .where(ExchangeOrder.client_order_id == coid)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one()
            row.status = _ROW_STATUS.get(str(order.status), RowStatus.UNKNOWN)
            row.venue_order_id = str(order.order_id)
            row.filled_qty = sold
            row.quote_qty = net
            row.fee = to_minor(fee_quote, leg.quote)
            row.fee_asset = leg.quote if fee_quote else None
            row.raw = {
                "status": str(order.status),
                "executed_qty": plain(order.executed_qty),
                "cumulative_quote_qty": plain(order.cumulative_quote_qty),
                "recovered": order.recovered,
                "fills": len(order.fills),
            }
            if row.status in (RowStatus.FILLED, RowStatus.EXPIRED, RowStatus.CANCELLED):
                ledger.post_fill(session, coid, leg.venue, leg.base, sold, leg.quote, net)
            session.flush()
            return row


def sell_ready(
    factory: sessionmaker[Session],
    exchanges: Mapping[str, ExchangeClient],
    now: datetime,
    *,
    window_seconds: int,
    lease_seconds: float,
    assets: list[str] | None = None,
) -> list[SellBatch]:
    """Sell every asset's waiting crypto; assets whose venues are down wait (no raise)."""
    done: list[SellBatch] = []
    waiting: list[str] = []
    with factory() as session:
        candidates = sellable_assets(session)
    for asset in candidates:
        if assets is not None and asset not in assets:
            continue
        with transaction(factory) as session:
            batch = open_batch(session, asset, now, window_seconds)
            batch_id = batch.id if batch is not None else None
        if batch_id is None or not claim(factory, batch_id, now, lease_seconds):
            continue
        try:
            done.append(Seller(factory, exchanges).run(batch_id))
        except BelowMinimum as exc:
            waiting.append(f"{asset}: {exc.message}")
            dissolve(factory, batch_id)
        except (SellWaiting, ExchangeError) as exc:
            waiting.append(f"{asset}: {exc.message}")
            release(factory, batch_id)
    if waiting:
        log.warning("sales waiting: %s", "; ".join(waiting))
    return done
