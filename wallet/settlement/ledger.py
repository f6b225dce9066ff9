"""The settlement's journal entries, one function per business event.

Multi-asset books use *trading accounts* (``external:trading:<ASSET>``):
every conversion posts its two halves there, so each entry balances per
asset, and what the trading accounts hold afterwards is the open position.

Per payment of X minor units of asset A for a vendor amount P paise,
quoted to fetch T paise (P + fees):

- collect (payment enters ``settling``):
  custodial: the hold on ``user:<id>:wallet:A`` is posted to
  ``external:trading:A`` (the payer's balance falls by X); external: Dr
  ``escrow:<chain>:A`` X, Cr ``external:trading:A`` X (the deposit).
- obligation (same transaction): Dr ``external:trading:INR`` T, Cr
  ``payout_clearing:INR`` P, Cr ``revenue:fees:INR`` T − P.
- payout processed: Dr ``payout_clearing:INR`` P, Dr ``expense:payout_fees:INR``
  C, Cr ``float:INR`` P + C, where C is RazorpayX's fee and the GST on it,
  which it takes from the float with the payout.
- payout reversed (correction): Dr ``float:INR`` P + C, Cr
  ``payout_clearing:INR`` P, Cr ``expense:payout_fees:INR`` C (RazorpayX
  gives back the amount, the fee and the tax).
- each filled order on a venue: Dr ``exchange:<venue>:<quote>`` net
  proceeds, Cr ``external:trading:<quote>``; Dr ``external:trading:<base>``
  sold, Cr ``exchange:<venue>:<base>``.
- batch close: the INR trading residual (realised proceeds − Σ T) moves to
  :data:`FX_PNL` — the FX gain (credit) or loss (debit) against the quotes.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from wallet.assets import get_asset
from wallet.db.models.ledger import JournalEntry
from wallet.db.models.payments import Payment, PaymentSource, Quote
from wallet.ledger import post_entry, post_hold
from wallet.ledger.entries import find_entry
from wallet.payments.intake import hold_ref

# Realised FX result against quotes. TODO(core): a ``revenue:fx:<ASSET>``
# rule in wallet.ledger.accounts; until then an equity account carries it.
FX_PNL = "revenue:fx:INR"
FLOAT = "float:INR"
CLEARING = "payout_clearing:INR"
PAYOUT_FEES = "expense:payout_fees:INR"

KIND_COLLECT = "settlement.collect"
KIND_OBLIGATION = "settlement.obligation"
KIND_PROCESSED = "payout.processed"
KIND_REVERSED = "payout.reversed"
KIND_FILL = "sell.fill"
KIND_FX = "sell.fx"


def trading(asset: str) -> str:
    return f"external:trading:{asset}"


def escrow(asset: str) -> str:
    return f"escrow:{get_asset(asset).chain.value}:{asset}"


def exchange(venue: str, asset: str) -> str:
    return f"exchange:{venue}:{asset}"


def target_paise(quote: Quote) -> int:
    """What selling the payment's crypto was quoted to fetch (vendor amount + fees)."""
    return int(quote.fees.get("target_paise", quote.amount_inr_paise))


def post_collect(session: Session, payment: Payment, quote: Quote) -> None:
    """Take the payer's crypto into the conversion position (idempotent)."""
    if payment.source is PaymentSource.CUSTODIAL:
        post_hold(
            session,
            hold_ref(payment.id),
            [(trading(payment.asset), payment.amount_minor)],
            memo=f"payment {payment.id} collected from the payer's balance",
        )
    else:
        post_entry(
            session,
            [
                (escrow(payment.asset), payment.asset, payment.amount_minor),
                (trading(payment.asset), payment.asset, -payment.amount_minor),
            ],
            kind=KIND_COLLECT,
            ref=payment.id,
            memo="deposit received for payment",
        )
    target = target_paise(quote)
    fee = target - payment.amount_inr_paise
    legs = [
        (trading("INR"), "INR", target),
        (CLEARING, "INR", -payment.amount_inr_paise),
    ]
    if fee:
        legs.append(("revenue:fees:INR", "INR", -fee))
    post_entry(session, legs, kind=KIND_OBLIGATION, ref=payment.id, memo="INR owed to the vendor")


def _paid_legs(amount_paise: int, charges_paise: int) -> list[tuple[str, str, int]]:
    """The vendor paid ``amount_paise`` from the float, which also paid ``charges_paise``."""
    legs = [(CLEARING, "INR", amount_paise), (FLOAT, "INR", -(amount_paise + charges_paise))]
    if charges_paise:
        legs.append((PAYOUT_FEES, "INR", charges_paise))
    return legs


def post_processed(
    session: Session, payout_key: str, amount_paise: int, charges_paise: int = 0
) -> JournalEntry:
    legs = _paid_legs(amount_paise, charges_paise)
    return post_entry(
        session, legs, kind=KIND_PROCESSED, ref=payout_key, memo="vendor paid from the float"
    )


def has_processed(session: Session, payout_key: str) -> bool:
    return find_entry(session, KIND_PROCESSED, payout_key) is not None


def post_reversed(
    session: Session, payout_key: str, amount_paise: int, charges_paise: int = 0
) -> JournalEntry:
    """The processed entry undone: amount and charges back in the float, the amount owed."""
    paid = _paid_legs(amount_paise, charges_paise)
    legs = [(code, asset, -amount) for code, asset, amount in paid]
    return post_entry(
        session,
        legs,
        kind=KIND_REVERSED,
        ref=payout_key,
        memo="payout reversed: amount and charges back in the float, the amount owed again",
    )


def post_fill(
    session: Session,
    client_order_id: str,
    venue: str,
    base: str,
    sold_minor: int,
    quote_asset: str,
    net_minor: int,
) -> None:
    """One filled order: inventory out, proceeds in, both halves via trading accounts."""
    legs: list[tuple[str, str, int]] = []
    if net_minor:
        legs += [
            (exchange(venue, quote_asset), quote_asset, net_minor),
            (trading(quote_asset), quote_asset, -net_minor),
        ]
    if sold_minor:
        legs += [
            (trading(base), base, sold_minor),
            (exchange(venue, base), base, -sold_minor),
        ]
    if legs:
        post_entry(
            session, legs, kind=KIND_FILL, ref=client_order_id, memo=f"{base} sold on {venue}"
        )


def post_fx(session: Session, batch_id: str, proceeds_paise: int, target: int) -> None:
    """Close the batch's INR position: realised proceeds minus the quoted targets."""
    diff = proceeds_paise - target
    if diff:
        post_entry(
            session,
            [(trading("INR"), "INR", diff), (FX_PNL, "INR", -diff)],
            kind=KIND_FX,
            ref=batch_id,
            memo="realised proceeds vs quote (FX gain if credit, loss if debit)",
        )
