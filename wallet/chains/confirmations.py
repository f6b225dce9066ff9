"""External payments moved on by what the chain shows (RELIABILITY "Ethereum"/"Bitcoin"/"Solana").

:func:`advance_payments` looks at every open *external* payment whose
deposit address (``payments.deposit_address``, a ``DEPOSIT``-purpose
address allocated for that one payment) is on ``chain``, and derives its
status from the observations on the current best chain, every time:

- ``awaiting_funds``/``reorged`` → ``detected``: first successful sighting
  of the payment's asset at its address in a block still on the best chain.
- ``detected`` → ``confirmed`` once every live transfer meets the asset's
  confirmation rule (:class:`~wallet.custody.deposits.ConfirmationPolicy`,
  the risk tier of the payment's INR value) and re-verifies with the
  adapter (receipt, contract allowlist, balance moved), and the verified
  total equals the quoted amount.
- **Tolerance: none, on purpose.** Amounts are integers in minor units and
  every link we hand out (EIP-681, Solana Pay, BIP21) carries the exact
  amount. A shortfall cannot be absorbed without booking a loss, and a
  surplus is never lost (it is credited to the payer), so exact is the
  only rule that keeps the books simple and the payer whole:
  - more than quoted → ``overpaid`` → ``confirmed`` in one go; the
    ``overpaid → confirmed`` move posts the surplus (``payment.surplus``):
    Dr ``escrow:<chain>:<A>`` / Cr ``user:<payer>:wallet:<A>``. The payer
    can spend or withdraw it like any custodial balance.
  - less than quoted → ``underpaid``: nothing is booked and the vendor is
    not paid. A top-up before the funding deadline (the quote's expiry plus
    the grace below) moves it back to ``detected`` and it is judged again on
    the new total. Still short at the deadline, it moves to ``refunded``: the
    payment gives up its address and custody credits what arrived (and
    anything later) to the payer's wallet as an ordinary deposit
    (:func:`wallet.custody.deposits.process_deposits`), which the payer can
    spend or withdraw. Nothing is lost and nothing is paid out.
- a payment whose every sighting left the best chain before settlement
  moves to ``reorged`` (from ``detected``, ``underpaid``, ``overpaid`` or
  ``confirmed``); a surplus already credited is taken back by the exact
  opposite entry (``payment.surplus_reversal``; a spent surplus goes to
  ``suspense:<A>`` for an operator). Re-inclusion moves it to ``detected``
  again and the rules above apply once more.

**Single counting.** The crypto of a payment is booked exactly once, by
settlement's collect entry (Dr ``escrow:<chain>:<A>`` X / Cr
``external:trading:<A>`` X, :func:`wallet.settlement.ledger.post_collect`),
when the confirmed payment enters ``settling``. Custody's deposit rules
therefore skip observations of a payment's asset at that payment's
deposit address (:func:`wallet.custody.deposits.process_deposits`): no
``credits`` row, no ``deposit.credit`` to the payer's wallet, so the same
coins are never both the payer's balance and the payment's escrow. Only
the surplus (above) is booked here. A *different* asset sent to a
payment's address is an ordinary deposit: custody credits it to the
payer's wallet.

**Expiry.** An external payment still ``awaiting_funds`` with no sighting
at all (no transfer of its asset to its address, on any chain branch, not
even in the mempool) once its quote has expired *and* a grace window has
passed moves to ``expired`` (``expected_from=awaiting_funds``, so exactly
once). The grace window defaults to the quote TTL of the payment's chain
(:meth:`wallet.quotes.config.QuoteConfig.ttl_seconds`) plus 15 minutes:
the payer may have started sending in the last second of the quote, and
slow wallets (fee estimation, hardware signing, a congested mempool) can
take many minutes to broadcast; a payment that dies too early only costs
the payer a detour through their wallet, one that never dies keeps their
risk limits reserved. ``payment_expiry_grace_seconds`` in settings (or the
``grace`` argument) overrides it. The ``awaiting_funds → expired`` move gives
back the risk limits the payment reserved
(:mod:`wallet.payments.compliance_hooks`). Coins that reach the address
*after* expiry are not lost: the payment no longer claims them, so custody
credits them to the payer's wallet as an ordinary deposit
(:func:`wallet.custody.deposits.process_deposits`).

Every move goes through :func:`wallet.payments.transitions.transition`
with ``expected_from`` in its own transaction, so concurrent or repeated
runs move a payment at most once per state (a loser gets
``illegal_transition`` and is skipped). Payments already ``settling`` or
later are not touched here: a reorg that deep is settlement's business.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import REGISTRY, Chain
from wallet.chains.base import ChainAdapter, ObservationStatus
from wallet.custody.deposits import ConfirmationPolicy, _as_observation, _BestChain
from wallet.db.base import utcnow
from wallet.db.models.chain import ChainObservation
from wallet.db.models.payments import Payment, PaymentEvent, PaymentSource, Quote
from wallet.db.session import transaction
from wallet.errors import IllegalTransition, InsufficientFunds
from wallet.ledger import entry_postings, user_wallet
from wallet.ledger.entries import PostingSpec
from wallet.payments.states import PaymentStatus
from wallet.payments.transitions import transition

log = logging.getLogger(__name__)

ACTOR = "system:chains"
SURPLUS_KIND = "payment.surplus"
SURPLUS_REVERSAL_KIND = "payment.surplus_reversal"
S = PaymentStatus
# Slow wallets: added to the chain's quote TTL after the quote's expiry (module docstring).
SLOW_WALLET_GRACE = timedelta(minutes=15)
WATCHED = (S.AWAITING_FUNDS, S.DETECTED, S.UNDERPAID, S.OVERPAID, S.REORGED, S.CONFIRMED)


@dataclass
class AdvanceReport:
    """Payment ids per status they were moved to by one run."""

    moved: dict[str, list[str]] = field(default_factory=dict)
    pending: int = 0

    def add(self, status: PaymentStatus, payment_id: str) -> None:
        self.moved.setdefault(status.value, []).append(payment_id)

    def __str__(self) -> str:
        counts = {k: len(v) for k, v in sorted(self.moved.items())}
        return f"moved={counts} pending={self.pending}"


@dataclass(frozen=True)
class _Open:
    id: str
    status: PaymentStatus
    asset: str
    address: str
    amount_minor: int
    inr_paise: int
    user_id: int
    quote_expires_at: datetime


@dataclass(frozen=True)
class _Seen:
    live: int  # transfers on the best chain
    ever: int  # transfers ever sighted
    total: int  # verified amount of the live transfers
    confirmed: bool  # every live transfer meets the rule and verified


def escrow_account(chain: str, asset: str) -> str:
    return f"escrow:{chain}:{asset}"


def _followed_anywhere() -> tuple[ColumnElement[bool], ...]:
    """The external payments these rules still follow, on any chain."""
    return (
        Payment.source == PaymentSource.EXTERNAL,
        Payment.deposit_address.is_not(None),
        Payment.status.in_(list(WATCHED)),
    )


def _followed(chain: str) -> tuple[ColumnElement[bool], ...]:
    """The external payments on ``chain`` these rules still follow."""
    assets = [symbol for symbol, spec in REGISTRY.items() if spec.chain.value == chain]
    return (*_followed_anywhere(), Payment.asset.in_(assets))


def chains_with_open_payments(session: Session) -> set[str]:
    """The chains any followed external payment waits on (one indexed query for all)."""
    assets = session.scalars(select(Payment.asset).where(*_followed_anywhere()).distinct())
    return {REGISTRY[asset].chain.value for asset in assets if asset in REGISTRY}


def _open_payments(session: Session, chain: str) -> list[_Open]:
    rows = session.execute(
        select(Payment, Quote.expires_at)
        .join(Quote, Quote.id == Payment.quote_id)
        .where(*_followed(chain))
        .order_by(Payment.created_at, Payment.id)
    ).all()
    return [
        _Open(
            p.id,
            p.status,
            p.asset,
            p.deposit_address or "",
            p.amount_minor,
            p.amount_inr_paise,
            p.user_id,
            expires_at,
        )
        for p, expires_at in rows
    ]


def _seen(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    best: _BestChain,
    policy: ConfirmationPolicy,
    head: int,
    payment: _Open,
) -> _Seen:
    chain = adapter.chain.value
    with factory() as session:
        rows = session.scalars(
            select(ChainObservation)
            .where(
                ChainObservation.chain == chain,
                ChainObservation.address == payment.address,
                ChainObservation.asset == payment.asset,
                ChainObservation.status == ObservationStatus.SUCCESS.value,
            )
            .order_by(ChainObservation.id)
        ).all()
        sightings = [_as_observation(r) for r in rows]
    transfers: dict[tuple[str, int], list[Any]] = {}
    for obs in sightings:
        transfers.setdefault((obs.txid, obs.idx), []).append(obs)
    needed = policy.required(payment.asset, payment.inr_paise)
    live = 0
    total = 0
    confirmed = True
    for seen in transfers.values():
        in_best = [o for o in seen if best.has(o.block_number, o.block_hash)]
        if not in_best:
            continue
        obs = in_best[-1]
        live += 1
        if head - (obs.block_number or head) + 1 < needed:
            confirmed = False
            total += obs.amount_minor
            continue
        check = adapter.verify_credit(obs)
        if check.reason is not None or check.amount_minor <= 0:
            # Custody's rules record the security event; this transfer pays nothing.
            log.warning("payment %s: transfer %s not verified (%s)", payment.id, obs.txid, check)
            live -= 1
            continue
        total += check.amount_minor
    return _Seen(live=live, ever=len(transfers), total=total, confirmed=confirmed and live > 0)


def _move(
    factory: sessionmaker[Session],
    payment: _Open,
    frm: PaymentStatus,
    to: PaymentStatus,
    reason: str,
    report: AdvanceReport,
    *,
    postings: list[PostingSpec] | None = None,
    kind: str | None = None,
) -> bool:
    try:
        with transaction(factory) as session:
            transition(
                session,
                payment.id,
                to,
                reason,
                actor=ACTOR,
                expected_from=frm,
                ledger_postings=postings,
                ledger_kind=kind,
            )
            if to is S.CONFIRMED and _hold_if_flagged(session, payment.id):
                to = S.HELD_FOR_REVIEW  # what the report's readers (settle requests) must see
    except IllegalTransition:
        return False  # another run moved it first
    report.add(to, payment.id)
    return True


def _hold_if_flagged(session: Session, payment_id: str) -> bool:
    """An external payment the risk engine flagged waits for review, not settlement.

    The decision was made at payment creation (before funds existed); it takes
    effect here, in the transaction that confirms the funds, so the payments
    sensor never sees the payment as ready to settle.
    """
    from wallet.risk.models import PaymentRisk, RiskDecisionKind

    risk = session.scalar(select(PaymentRisk).where(PaymentRisk.payment_id == payment_id))
    if risk is None or risk.decision is not RiskDecisionKind.HOLD_FOR_REVIEW:
        return False
    transition(
        session,
        payment_id,
        S.HELD_FOR_REVIEW,
        "risk review: " + ", ".join(str(r) for r in risk.reasons),
        actor="system:risk",
    )
    return True


def _surplus_entry(session: Session, payment_id: str) -> int | None:
    """The journal entry of the surplus credited at the payment's last confirmation."""
    event = session.scalars(
        select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment_id, PaymentEvent.to_status == S.CONFIRMED)
        .order_by(PaymentEvent.version.desc())
    ).first()
    return None if event is None else event.journal_entry_id


def _reorg(
    factory: sessionmaker[Session], payment: _Open, report: AdvanceReport, chain: str
) -> None:
    reason = "every sighting of the payment's transfer left the best chain (reorg)"
    postings: list[PostingSpec] | None = None
    if payment.status is S.CONFIRMED:
        with factory() as session:
            entry_id = _surplus_entry(session, payment.id)
            if entry_id is not None:
                postings = [(c, a, -amt) for c, a, amt in entry_postings(session, entry_id)]
    try:
        _move(
            factory, payment, payment.status, S.REORGED, reason, report,
            postings=postings, kind=SURPLUS_REVERSAL_KIND,
        )  # fmt: skip
    except InsufficientFunds:
        assert postings is not None  # noqa: S101 - only a surplus reversal can overdraw
        spent = [
            (f"suspense:{a}" if c.startswith("user:") else c, a, amt) for c, a, amt in postings
        ]
        _move(
            factory, payment, payment.status, S.REORGED, reason + "; surplus already spent",
            report, postings=spent, kind=SURPLUS_REVERSAL_KIND,
        )  # fmt: skip


def expiry_grace(settings: Any, chain: Chain) -> timedelta:
    """How long after its quote's expiry an unfunded external payment stays open.

    ``payment_expiry_grace_seconds`` in settings if set; otherwise the
    chain's quote TTL plus :data:`SLOW_WALLET_GRACE` (module docstring: why).
    """
    override = getattr(settings, "payment_expiry_grace_seconds", None)
    if override is not None:
        return timedelta(seconds=int(override))
    from wallet.quotes.config import QuoteConfig

    config = QuoteConfig() if settings is None else QuoteConfig.from_settings(settings)
    return timedelta(seconds=config.ttl_seconds(chain)) + SLOW_WALLET_GRACE


def _advance_one(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    best: _BestChain,
    policy: ConfirmationPolicy,
    head: int,
    payment: _Open,
    report: AdvanceReport,
    deadline: tuple[datetime, timedelta],
) -> None:
    chain = adapter.chain.value
    seen = _seen(factory, adapter, best, policy, head, payment)
    status = payment.status
    if seen.live == 0:
        if seen.ever and status in (S.DETECTED, S.UNDERPAID, S.OVERPAID, S.CONFIRMED):
            _reorg(factory, payment, report, chain)
        now, grace = deadline
        if status is S.AWAITING_FUNDS and not seen.ever and now >= payment.quote_expires_at + grace:
            # Never funded: give up (and give back its risk limits). Late coins go to the payer.
            _move(
                factory, payment, status, S.EXPIRED,
                f"no funds by {(payment.quote_expires_at + grace).isoformat()} "
                f"(quote expiry + {int(grace.total_seconds())}s grace)", report,
            )  # fmt: skip
        return
    if status is S.CONFIRMED:
        return
    if status in (S.AWAITING_FUNDS, S.REORGED):
        if not _move(factory, payment, status, S.DETECTED, "transfer seen on chain", report):
            return
        status = S.DETECTED
    if not seen.confirmed:
        report.pending += 1
        return
    if status is S.UNDERPAID:
        if seen.total < payment.amount_minor:
            now, grace = deadline
            if now >= payment.quote_expires_at + grace:
                # Still short at the funding deadline: the payment gives up its address,
                # and custody credits what arrived to the payer's wallet as a deposit.
                _move(
                    factory, payment, status, S.REFUNDED,
                    f"received {seen.total} of {payment.amount_minor} by "
                    f"{(payment.quote_expires_at + grace).isoformat()}: credited to the "
                    "payer's wallet", report,
                )  # fmt: skip
            return  # still short: waiting for a top-up until the deadline
        if not _move(factory, payment, status, S.DETECTED, "top-up received", report):
            return
        status = S.DETECTED
    if status is S.DETECTED:
        if seen.total < payment.amount_minor:
            short = payment.amount_minor - seen.total
            _move(
                factory, payment, status, S.UNDERPAID,
                f"received {seen.total} of {payment.amount_minor} (short {short})", report,
            )  # fmt: skip
            return
        if seen.total > payment.amount_minor:
            surplus = seen.total - payment.amount_minor
            if not _move(
                factory, payment, status, S.OVERPAID,
                f"received {seen.total} of {payment.amount_minor} (surplus {surplus})", report,
            ):  # fmt: skip
                return
            status = S.OVERPAID
        else:
            _move(factory, payment, status, S.CONFIRMED, "confirmation rule met", report)
            return
    if status is S.OVERPAID:
        surplus = seen.total - payment.amount_minor
        if surplus <= 0:
            return  # a transfer left the chain meanwhile: judged again next run
        _move(
            factory, payment, status, S.CONFIRMED,
            f"confirmation rule met; surplus {surplus} credited to the payer's wallet", report,
            postings=[
                (escrow_account(chain, payment.asset), payment.asset, surplus),
                (user_wallet(payment.user_id, payment.asset), payment.asset, -surplus),
            ],
            kind=SURPLUS_KIND,
        )  # fmt: skip


def advance_payments(
    factory: sessionmaker[Session],
    chain: Chain | str,
    *,
    adapter: ChainAdapter | None = None,
    policy: ConfirmationPolicy | None = None,
    settings: Any = None,
    now: datetime | None = None,
    grace: timedelta | None = None,
) -> AdvanceReport:
    """Move external payments on ``chain`` along by what the best chain shows; re-runnable.

    With no open external payment on the chain it costs one query and no
    RPC call, so the chain sensor calls it every tick. ``adapter`` and
    ``policy`` default to custody's, built from ``settings`` (or the
    environment's). Unfunded payments expire once ``now`` (default: the
    clock) is past their quote's expiry plus ``grace`` (default:
    :func:`expiry_grace`).
    """
    chain = Chain(chain)
    report = AdvanceReport()
    with factory() as session:
        payments = _open_payments(session, chain.value)
    if not payments:
        return report
    from wallet.custody.service import build_adapter, confirmation_policy

    if adapter is None or policy is None:
        if settings is None:
            from wallet.config import load_settings

            settings = load_settings()
        policy = policy or confirmation_policy(settings)
    own = adapter is None
    active = adapter or build_adapter(chain, settings)
    deadline = (now or utcnow(), grace if grace is not None else expiry_grace(settings, chain))
    try:
        head = active.head().height
        best = _BestChain(active)
        for payment in payments:
            _advance_one(factory, active, best, policy, head, payment, report, deadline)
    finally:
        if own:
            active.close()
    return report
