"""Reconciliation checks and the report they produce (see the package docstring).

Categories (RELIABILITY G5):

- ``credit_without_tx``: a crypto credit whose chain output we never
  observed in a block (or only in one no longer on the best chain).
- ``tx_without_credit``: a successful observation at one of our addresses
  with no credit for that output.
- ``fill_without_entry``: a filled exchange order with no ``sell.fill`` entry.
- ``fill_mismatch``: the venue reports another executed quantity than we booked.
- ``payout_processed_not_booked``: RazorpayX processed it, our ledger still
  shows the payout in clearing.
- ``reversal``: RazorpayX reversed a payout our ledger counts as paid.
- ``duplicate_payout``: more than one live payout at RazorpayX for a payment.
- ``payout_total``: Σ RazorpayX (processed − reversed) ≠ Σ ledger payouts.
- ``payout_charges_total``: the same for the fees and tax RazorpayX took
  with the payouts, against ``expense:payout_fees:INR`` of their entries.
- ``onchain_balance_mismatch`` / ``exchange_balance_mismatch``: what our
  addresses / venue accounts hold ≠ the ledger's custody / exchange accounts
  (:mod:`wallet.reconciliation.balances`; ``chain_unreachable`` when a chain
  cannot be read).
"""

from __future__ import annotations

import csv
import html
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from wallet.assets import get_asset
from wallet.chains.base import ChainAdapter
from wallet.db.models.chain import ChainObservation, Credit
from wallet.db.models.ledger import JournalEntry, LedgerAccount, Posting
from wallet.db.models.settlement import ExchangeOrder, OrderStatus, Payout
from wallet.exchanges.base import ExchangeClient
from wallet.exchanges.errors import ExchangeError
from wallet.exchanges.types import plain
from wallet.money import Rounding, parse_minor
from wallet.payouts.errors import PayoutError
from wallet.payouts.status import PayoutStatus as Remote
from wallet.settlement import ledger
from wallet.settlement.payouts import PayoutGateway

LIVE = {Remote.PENDING, Remote.QUEUED, Remote.SCHEDULED, Remote.PROCESSING, Remote.PROCESSED}


@dataclass(frozen=True)
class Break:
    """One disagreement: amounts in minor units of ``asset`` (ours vs theirs)."""

    category: str
    subject: str
    asset: str
    ours: int
    theirs: int
    detail: str = ""


@dataclass
class ReconReport:
    start: datetime
    end: datetime
    breaks: list[Break] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def by_category(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for b in self.breaks:
            counts[b.category] += 1
        return dict(counts)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(Break.__dataclass_fields__))
        writer.writeheader()
        for b in self.breaks:
            writer.writerow(asdict(b))
        return out.getvalue()

    def markdown(self) -> str:
        head = (
            "| category | subject | asset | ours | theirs | detail |\n|---|---|---|---|---|---|\n"
        )
        if not self.breaks:
            return head + "| none | | | | | no breaks |\n"
        return head + "".join(
            f"| {b.category} | `{b.subject}` | {b.asset} | {b.ours} | {b.theirs} | {b.detail} |\n"
            for b in self.breaks
        )

    def html(self) -> str:
        rows = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(str(v))}</td>" for v in asdict(b).values())
            + "</tr>"
            for b in self.breaks
        )
        cols = "".join(f"<th>{c}</th>" for c in Break.__dataclass_fields__)
        title = f"Reconciliation {self.start.isoformat()} – {self.end.isoformat()}"
        return (
            f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><p>{len(self.breaks)} breaks</p>"
            f"<table border=1><tr>{cols}</tr>{rows}</table>"
        )


@contextmanager
def snapshot(engine: Engine) -> Iterator[Session]:
    """A read-only session over one consistent snapshot of the database."""
    options: dict[str, object] = {}
    if engine.dialect.name == "postgresql":
        options = {
            "isolation_level": "SERIALIZABLE",
            "postgresql_readonly": True,
            "postgresql_deferrable": True,
        }
    # One transaction for every read: on SQLite it pins one WAL snapshot.
    with (
        engine.connect().execution_options(**options) as conn,
        Session(bind=conn) as session,
        conn.begin(),
    ):
        yield session


def _ref(chain: str, txid: str, idx: int) -> str:
    return f"{chain}:{txid}:{idx}"


def _chain_breaks(session: Session, start: datetime, end: datetime) -> list[Break]:
    out: list[Break] = []
    credits = session.scalars(
        select(Credit).where(Credit.created_at >= start, Credit.created_at < end)
    ).all()
    seen = {
        (o.chain, o.txid, o.idx)
        for o in session.scalars(
            select(ChainObservation).where(
                ChainObservation.status == "success", ChainObservation.block_hash.is_not(None)
            )
        )
    }
    for c in credits:
        if (c.chain, c.txid, c.idx) not in seen:
            out.append(
                Break(
                    "credit_without_tx", f"{c.chain}:{c.txid}:{c.idx}", c.asset, c.amount_minor, 0
                )
            )
    credited = {(c.chain, c.txid, c.idx) for c in session.scalars(select(Credit))}
    observed = session.scalars(
        select(ChainObservation).where(
            ChainObservation.status == "success",
            ChainObservation.block_hash.is_not(None),
            ChainObservation.observed_at >= start,
            ChainObservation.observed_at < end,
        )
    ).all()
    reported: set[tuple[str, str, int]] = set()
    for o in observed:
        key = (o.chain, o.txid, o.idx)
        if key not in credited and key not in reported:
            reported.add(key)
            out.append(
                Break(
                    "tx_without_credit", f"{o.chain}:{o.txid}:{o.idx}", o.asset, 0, o.amount_minor
                )
            )
    return out


def _entry_refs(session: Session, kind: str) -> set[str]:
    return set(session.scalars(select(JournalEntry.ref).where(JournalEntry.kind == kind)))


def _fill_breaks(
    session: Session,
    start: datetime,
    end: datetime,
    exchanges: Mapping[str, ExchangeClient] | None,
) -> list[Break]:
    out: list[Break] = []
    booked = _entry_refs(session, ledger.KIND_FILL)
    orders = session.scalars(
        select(ExchangeOrder).where(
            ExchangeOrder.created_at >= start,
            ExchangeOrder.created_at < end,
            ExchangeOrder.status.in_([OrderStatus.FILLED, OrderStatus.EXPIRED]),
        )
    ).all()
    for o in orders:
        if o.filled_qty and o.client_order_id not in booked:
            out.append(
                Break("fill_without_entry", o.client_order_id, o.base_asset, 0, o.filled_qty)
            )
        client = (exchanges or {}).get(o.venue)
        if client is None:
            continue
        try:
            remote = client.get_order(o.symbol, o.client_order_id)
        except ExchangeError as exc:
            out.append(Break("venue_unreachable", o.client_order_id, o.base_asset, 0, 0, exc.code))
            continue
        theirs = parse_minor(
            plain(remote.executed_qty), get_asset(o.base_asset).decimals, Rounding.DOWN
        )
        if theirs != o.filled_qty:
            out.append(
                Break("fill_mismatch", o.client_order_id, o.base_asset, o.filled_qty, theirs)
            )
    return out


def _payout_breaks(
    session: Session,
    start: datetime,
    end: datetime,
    gateway: PayoutGateway | None,
    totals: dict[str, int],
) -> list[Break]:
    out: list[Break] = []
    processed = _entry_refs(session, ledger.KIND_PROCESSED)
    reversed_ = _entry_refs(session, ledger.KIND_REVERSED)
    rows = session.scalars(
        select(Payout).where(Payout.created_at >= start, Payout.created_at < end)
    ).all()
    ours = {r.idempotency_key: r for r in rows}
    ledger_paid = sum(
        r.amount_paise * ((k in processed) - (k in reversed_)) for k, r in ours.items()
    )
    totals["ledger_payouts_paise"] = ledger_paid
    ledger_charges = _booked_charges(session, start, end)
    totals["ledger_payout_charges_paise"] = ledger_charges
    if gateway is None:
        return out
    provider_paid = provider_charges = 0
    for payment_id in sorted({r.payment_id for r in rows}):
        try:
            remote = gateway.find_payouts(payment_id)
        except PayoutError as exc:
            out.append(Break("provider_unreachable", payment_id, "INR", 0, 0, exc.code))
            continue
        live = [p for p in remote if p.status in LIVE]
        if len(live) > 1:
            out.append(
                Break(
                    "duplicate_payout",
                    payment_id,
                    "INR",
                    0,
                    sum(p.amount_paise for p in live),
                    ", ".join(p.id for p in live),
                )
            )
        for p in remote:
            key = p.notes.get("attempt", "")
            sign = {Remote.PROCESSED: 1, Remote.REVERSED: 0}.get(p.status, 0)
            provider_paid += sign * p.amount_paise
            provider_charges += sign * (p.fees_paise + p.tax_paise)
            if p.status is Remote.PROCESSED and key not in processed:
                out.append(
                    Break("payout_processed_not_booked", p.id, "INR", 0, p.amount_paise, key)
                )
            if p.status is Remote.REVERSED and key in processed and key not in reversed_:
                out.append(Break("reversal", p.id, "INR", p.amount_paise, 0, key))
    totals["provider_payouts_paise"] = provider_paid
    if provider_paid != ledger_paid:
        out.append(Break("payout_total", "all payouts", "INR", ledger_paid, provider_paid))
    totals["provider_payout_charges_paise"] = provider_charges
    if provider_charges != ledger_charges:
        out.append(
            Break("payout_charges_total", "all payouts", "INR", ledger_charges, provider_charges)
        )
    return out


def _booked_charges(session: Session, start: datetime, end: datetime) -> int:
    """Net payout charges the ledger booked for payouts created in ``[start, end)``."""
    amounts = session.scalars(
        select(Posting.amount)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .join(Payout, Payout.idempotency_key == JournalEntry.ref)
        .where(
            LedgerAccount.code == ledger.PAYOUT_FEES,
            JournalEntry.kind.in_([ledger.KIND_PROCESSED, ledger.KIND_REVERSED]),
            Payout.created_at >= start,
            Payout.created_at < end,
        )
    )
    return sum(amounts)


def reconcile(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    payouts: PayoutGateway | None = None,
    exchanges: Mapping[str, ExchangeClient] | None = None,
    chains: Mapping[str, ChainAdapter] | None = None,
    extra_addresses: Mapping[str, Iterable[str]] | None = None,
    venue_balances: Mapping[str, ExchangeClient] | None = None,
) -> ReconReport:
    """Every break among objects created in ``[start, end)``, read from ``session``.

    With ``chains`` (chain → adapter) and ``venue_balances`` (venue → client)
    it also ties today's on-chain and venue balances to the ledger.
    """
    # Imported here: balances builds on this module's Break.
    from wallet.reconciliation.balances import exchange_balance_breaks, onchain_balance_breaks

    report = ReconReport(start, end)
    report.breaks += _chain_breaks(session, start, end)
    report.breaks += _fill_breaks(session, start, end, exchanges)
    report.breaks += _payout_breaks(session, start, end, payouts, report.totals)
    if chains is not None:
        report.breaks += onchain_balance_breaks(
            session, chains, extra_addresses=extra_addresses, totals=report.totals
        )
    if venue_balances is not None:
        report.breaks += exchange_balance_breaks(session, venue_balances, totals=report.totals)
    return report
