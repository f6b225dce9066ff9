"""Crediting deposits: exactly once, only when the chain really paid us.

Rules (RELIABILITY.md, "Ethereum" / "Bitcoin/Dogecoin" / "Solana"):

- Status is derived from the current best chain every time: an
  observation counts only while the block at its height still has its
  hash; confirmations are ``head − block + 1``.
- The confirmation rule is per asset (:class:`ConfirmationPolicy`): the
  registry's per-tier numbers by default, overridable (the sandbox uses
  fewer). UTXO deposits never credit at 0 confirmations (RBF).
- Before crediting, the adapter re-verifies: receipt succeeded, the log is
  from an allowlisted contract, and our balance moved by that amount
  (fee-on-transfer credits what arrived; a token that returns ``false``
  emits nothing and credits nothing). Anything else is a security event
  (``wallet.security`` log + audit row), recorded once, credited never.
- Our own sweeps, gas top-ups and cold moves (``chain_broadcasts`` of
  those purposes) land on watched addresses too; they are never credited
  (:mod:`wallet.custody.sweeps` explains the accounting).
- A payment's asset arriving at that external payment's own deposit
  address belongs to the payment, not to the payer's balance: it is
  never credited here (settlement's collect entry books it once, see
  :mod:`wallet.chains.confirmations`). Another asset sent there is an
  ordinary deposit of the payer. So is anything at the address once the
  payment has *expired* unfunded (it ever reached ``expired``) or gave up
  underpaid (``underpaid → refunded`` at its funding deadline): the payment
  no longer claims its address, and the coins are credited to the payer's
  wallet like any deposit, never lost and never paid out.
- One credit per ``(chain, txid, idx)``: the ``credits`` unique key, taken
  in the same transaction as the ledger entry ``deposit.credit``.
- A credit whose every observation left the best chain is reversed with a
  ``deposit.reversal`` entry and flagged in ``credit_reversals``; if the
  user already spent it, the shortfall goes to ``suspense`` for an operator.
- A transaction re-included after its credit was reversed is re-credited
  by a ``deposit.reinstatement`` entry that is the exact negation of the
  reversal (so a ``suspense`` shortfall is cleared rather than the user
  paid twice), once it meets the same confirmation rule and re-verifies
  for the same amount. ``credit_reinstatements`` is unique per
  ``(credit, block_hash)``: exactly once per re-inclusion, and only while
  no other reinstatement of that credit is live (under the credit's row
  lock). If the re-including block leaves the best chain as well, the
  reinstatement is taken back (``deposit.reinstatement_reversal``) and a
  later re-inclusion in yet another block may reinstate again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet import audit
from wallet.assets import ChainFamily, RiskTier, get_asset
from wallet.chains.base import ChainAdapter, Observation, ObservationStatus, Purpose
from wallet.chains.models import ChainBroadcast
from wallet.custody.models import CreditReinstatement, CreditReversal
from wallet.db.models.chain import ChainObservation, Credit
from wallet.db.models.ledger import JournalEntry
from wallet.db.models.ops import AuditLog
from wallet.db.models.payments import Payment, PaymentEvent, PaymentSource
from wallet.db.models.users import WalletAddress
from wallet.db.session import transaction
from wallet.errors import InsufficientFunds
from wallet.ledger import entry_postings, post_entry, user_wallet
from wallet.payments.states import PaymentStatus

log = logging.getLogger(__name__)
security = logging.getLogger("wallet.security")

CREDIT_KIND = "deposit.credit"
REVERSAL_KIND = "deposit.reversal"
REINSTATEMENT_KIND = "deposit.reinstatement"
REINSTATEMENT_REVERSAL_KIND = "deposit.reinstatement_reversal"
ACTOR = "system:deposits"
# Our own moves between our own addresses: custody location, never a deposit.
INTERNAL_PURPOSES = (Purpose.SWEEP.value, Purpose.GAS_TOPUP.value, Purpose.COLD.value)


@dataclass(frozen=True)
class ConfirmationPolicy:
    """Confirmations a deposit needs, per asset; ``overrides`` wins over the registry."""

    overrides: Mapping[str, int] = field(default_factory=dict)

    def required(self, asset: str, inr_paise: int | None = None) -> int:
        spec = get_asset(asset)
        if asset in self.overrides:
            needed = self.overrides[asset]
        elif inr_paise is None:
            needed = spec.confirmations[RiskTier.LARGE]  # unknown value: the strictest tier
        else:
            needed = spec.confirmations_for(inr_paise)
        if spec.family is ChainFamily.UTXO:
            needed = max(needed, 1)  # never 0-conf: an RBF tx can be replaced
        return max(needed, 1)


@dataclass
class DepositReport:
    credited: list[Credit] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (ref, reason)
    reversed: list[int] = field(default_factory=list)  # credit ids
    reinstated: list[int] = field(default_factory=list)  # credit ids re-credited this run
    pending: int = 0
    # The head height at which the first pending deposit has its confirmations: nothing
    # pending can be credited before it (a watcher need not run the pass again until then).
    confirm_height: int | None = None


def _ref(chain: str, txid: str, idx: int) -> str:
    return f"{chain}:{txid}:{idx}"


def ledger_accounts(session: Session, chain: str, asset: str, address: str) -> tuple[str, str]:
    """(debit, credit) accounts of a deposit: our custody asset vs. the owner."""
    owner = session.scalar(
        select(WalletAddress.user_id).where(
            WalletAddress.chain == chain, WalletAddress.address == address
        )
    )
    liability = user_wallet(owner, asset) if owner is not None else f"suspense:{asset}"
    return f"hot:{chain}:{asset}", liability


def security_event(
    session: Session, code: str, observation: Observation | ChainObservation, **extra: str
) -> bool:
    """Record a refused transfer once (log + audit row); False if already recorded."""
    subject = observation.txid[-64:]
    action = f"security.{code}"
    seen = session.scalar(
        select(AuditLog.id).where(
            AuditLog.action == action,
            AuditLog.subject_type == "chain_tx",
            AuditLog.subject_id == subject,
        )
    )
    if seen is not None:
        return False
    data = {
        "chain": observation.chain,
        "txid": observation.txid,
        "idx": str(observation.idx),
        "asset": observation.asset,
        "address": observation.address,
        "amount_minor": str(observation.amount_minor),
        **extra,
    }
    security.warning("%s %s", action, data)
    audit.record(
        session, actor=ACTOR, action=action, subject_type="chain_tx", subject_id=subject, data=data
    )
    return True


def _as_observation(row: ChainObservation) -> Observation:
    return Observation(
        chain=row.chain,
        txid=row.txid,
        idx=row.idx,
        asset=row.asset,
        address=row.address,
        amount_minor=row.amount_minor,
        block_number=row.block_number,
        block_hash=row.block_hash,
        status=ObservationStatus(row.status),
    )


class _BestChain:
    """Block hashes of the best chain, asked once per height per run.

    Callers :meth:`prefetch` the heights they will ask about, so a pass over
    many recent credits is one batched node request per hundred heights, not
    one request per height (on a remote node, a round trip each).
    """

    def __init__(self, adapter: ChainAdapter) -> None:
        self._adapter = adapter
        self._hashes: dict[int, str | None] = {}

    def prefetch(self, heights: Iterable[int | None]) -> None:
        missing = {h for h in heights if h is not None and h not in self._hashes}
        if missing:
            self._hashes.update(self._adapter.block_hashes(sorted(missing)))

    def has(self, height: int | None, block_hash: str | None) -> bool:
        if height is None or block_hash is None:
            return False
        if height not in self._hashes:
            self._hashes[height] = self._adapter.block_hash(height)
        return self._hashes[height] == block_hash


def process_deposits(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    policy: ConfirmationPolicy,
    *,
    window: int = 10_000,
) -> DepositReport:
    """Credit confirmed deposits and reverse reorged credits on one chain; re-runnable."""
    chain = adapter.chain.value
    head = adapter.head().height
    best = _BestChain(adapter)
    report = DepositReport()
    with transaction(factory) as session:
        rows = session.scalars(
            select(ChainObservation)
            .outerjoin(
                Credit,
                and_(
                    Credit.chain == ChainObservation.chain,
                    Credit.txid == ChainObservation.txid,
                    Credit.idx == ChainObservation.idx,
                ),
            )
            .where(
                ChainObservation.chain == chain,
                Credit.id.is_(None),
                ~exists().where(
                    ChainBroadcast.chain == chain,
                    ChainBroadcast.txid == ChainObservation.txid,
                    ChainBroadcast.purpose.in_(INTERNAL_PURPOSES),
                ),
                # Paid to an external payment's address: the payment's, booked by settlement
                # (unless it expired unfunded or gave up underpaid: then the coins are the
                # payer's deposit).
                ~exists().where(
                    Payment.source == PaymentSource.EXTERNAL,
                    Payment.deposit_address == ChainObservation.address,
                    Payment.asset == ChainObservation.asset,
                    ~exists().where(
                        PaymentEvent.payment_id == Payment.id,
                        or_(
                            PaymentEvent.to_status == PaymentStatus.EXPIRED,
                            and_(
                                PaymentEvent.from_status == PaymentStatus.UNDERPAID,
                                PaymentEvent.to_status == PaymentStatus.REFUNDED,
                            ),
                        ),
                    ),
                ),
                ChainObservation.block_number >= head - window,
            )
            .order_by(ChainObservation.id)
        ).all()
        candidates = [_as_observation(r) for r in rows]
    best.prefetch(obs.block_number for obs in candidates if obs.block_hash)
    for obs in candidates:
        ref = _ref(obs.chain, obs.txid, obs.idx)
        if not best.has(obs.block_number, obs.block_hash):
            continue  # orphaned (or not yet in a block): never credited from this sighting
        if obs.status is not ObservationStatus.SUCCESS:
            with transaction(factory) as session:
                if security_event(session, obs.status.value, obs):
                    report.refused.append((ref, obs.status.value))
            continue
        block = obs.block_number or head
        if head - block + 1 < policy.required(obs.asset):
            report.pending += 1
            ready = block + policy.required(obs.asset) - 1
            report.confirm_height = min(ready, report.confirm_height or ready)
            continue
        check = adapter.verify_credit(obs)
        if check.amount_minor <= 0 or check.reason is not None:
            with transaction(factory) as session:
                if security_event(session, check.reason or "unverified", obs, **check.detail):
                    report.refused.append((ref, check.reason or "unverified"))
            if check.amount_minor <= 0:
                continue
        credit = _credit(factory, obs, check.amount_minor)
        if credit is not None:
            report.credited.append(credit)
    report.reversed = _reverse_orphaned(factory, adapter, best, head - window)
    report.reinstated, again = _reinstate_reincluded(
        factory, adapter, best, policy, head, head - window
    )
    report.reversed += again
    return report


def _credit(factory: sessionmaker[Session], obs: Observation, amount: int) -> Credit | None:
    """Insert the credit and its entry together; a duplicate is a no-op."""
    try:
        with transaction(factory) as session:
            credit = Credit(
                chain=obs.chain,
                txid=obs.txid,
                idx=obs.idx,
                asset=obs.asset,
                address=obs.address,
                amount_minor=amount,
            )
            session.add(credit)
            session.flush()
            debit, liability = ledger_accounts(session, obs.chain, obs.asset, obs.address)
            entry = post_entry(
                session,
                [(debit, obs.asset, amount), (liability, obs.asset, -amount)],
                kind=CREDIT_KIND,
                ref=_ref(obs.chain, obs.txid, obs.idx),
                memo=f"deposit to {obs.address} at block {obs.block_number}",
            )
            credit.journal_entry_id = entry.id
            session.flush()
            log.info("credited %s %s %s", obs.asset, amount, _ref(obs.chain, obs.txid, obs.idx))
            return credit
    except IntegrityError:
        return None  # credited by a concurrent run: the unique key did its job


def _reverse_orphaned(
    factory: sessionmaker[Session], adapter: ChainAdapter, best: _BestChain, floor: int
) -> list[int]:
    """Reverse live credits none of whose sightings is on the best chain any more.

    Only credits sighted at or above ``floor`` are looked at (older ones are
    final by policy), in two queries whatever their number: the chain
    watcher runs this every second, so it must not grow with every credit
    ever made on the chain.
    """
    chain = adapter.chain.value
    on_credit = (
        (ChainObservation.chain == Credit.chain)
        & (ChainObservation.txid == Credit.txid)
        & (ChainObservation.idx == Credit.idx)
    )
    with transaction(factory) as session:
        credits = session.scalars(
            select(Credit)
            .outerjoin(CreditReversal, CreditReversal.credit_id == Credit.id)
            .where(
                Credit.chain == chain,
                CreditReversal.id.is_(None),
                exists().where(on_credit, ChainObservation.block_number >= floor),
            )
            .order_by(Credit.id)
        ).all()
        sightings: dict[int, list[tuple[int | None, str | None]]] = {c.id: [] for c in credits}
        if credits:
            rows = session.execute(
                select(Credit.id, ChainObservation.block_number, ChainObservation.block_hash)
                .join(ChainObservation, on_credit)
                .where(Credit.id.in_(list(sightings)))
            )
            for credit_id, height, block_hash in rows:
                sightings[credit_id].append((height, block_hash))
    best.prefetch(h for seen in sightings.values() for h, block_hash in seen if block_hash)
    reversed_ids = []
    for credit in credits:
        if any(best.has(h, bh) for h, bh in sightings[credit.id]):
            continue
        if _reverse(factory, credit):
            reversed_ids.append(credit.id)
    return reversed_ids


def _reverse(factory: sessionmaker[Session], credit: Credit) -> bool:
    ref = _ref(credit.chain, credit.txid, credit.idx)
    with transaction(factory) as session:
        debit, liability = ledger_accounts(session, credit.chain, credit.asset, credit.address)
        amount = credit.amount_minor
        try:
            entry = post_entry(
                session,
                [(liability, credit.asset, amount), (debit, credit.asset, -amount)],
                kind=REVERSAL_KIND,
                ref=ref,
                memo="deposit left the best chain after it was credited",
            )
            reason = "reorg"
        except InsufficientFunds:
            # The user already spent it: book the shortfall as a receivable in suspense.
            entry = post_entry(
                session,
                [
                    (f"suspense:{credit.asset}", credit.asset, amount),
                    (debit, credit.asset, -amount),
                ],
                kind=REVERSAL_KIND,
                ref=ref,
                memo="deposit reorged out after being spent: operator review",
            )
            reason = "reorg_spent"
        try:
            with session.begin_nested():
                session.add(
                    CreditReversal(credit_id=credit.id, journal_entry_id=entry.id, reason=reason)
                )
                session.flush()
        except IntegrityError:
            return False
        security.warning("security.deposit_reorged_after_credit %s reason=%s", ref, reason)
        audit.record(
            session,
            actor=ACTOR,
            action="security.deposit_reorged_after_credit",
            subject_type="chain_tx",
            subject_id=credit.txid[-64:],
            data={"ref": ref, "amount_minor": str(amount), "asset": credit.asset, "reason": reason},
        )
    return True


def _negate(
    session: Session, entry_id: int, *, kind: str, ref: str, memo: str
) -> tuple[JournalEntry, str]:
    """Post the exact opposite of an entry; a user leg that would overdraw goes to suspense."""
    legs = [(code, asset, -amount) for code, asset, amount in entry_postings(session, entry_id)]
    try:
        return post_entry(session, legs, kind=kind, ref=ref, memo=memo), "reorg"
    except InsufficientFunds:
        spent = [
            (f"suspense:{asset}" if code.startswith("user:") else code, asset, amount)
            for code, asset, amount in legs
        ]
        return post_entry(session, spent, kind=kind, ref=ref, memo=memo + ": already spent"), (
            "reorg_spent"
        )


@dataclass(frozen=True)
class _Reversed:
    credit: Observation  # the credit as an observation (amount = credited amount)
    credit_id: int
    reversal_entry_id: int
    live: tuple[int, str, int] | None  # (reinstatement id, block hash, entry id)
    used: frozenset[str]  # block hashes already reinstated once
    sightings: tuple[Observation, ...]


def _credit_as_observation(credit: Credit) -> Observation:
    return Observation(
        chain=credit.chain,
        txid=credit.txid,
        idx=credit.idx,
        asset=credit.asset,
        address=credit.address,
        amount_minor=credit.amount_minor,
        block_number=None,
        block_hash=None,
        status=ObservationStatus.SUCCESS,
    )


def _reversed_credits(session: Session, chain: str, floor: int) -> list[_Reversed]:
    rows = session.execute(
        select(Credit, CreditReversal.journal_entry_id)
        .join(CreditReversal, CreditReversal.credit_id == Credit.id)
        .where(Credit.chain == chain)
    ).all()
    out = []
    for credit, reversal_entry in rows:
        sightings = tuple(
            _as_observation(o)
            for o in session.scalars(
                select(ChainObservation).where(
                    ChainObservation.chain == chain,
                    ChainObservation.txid == credit.txid,
                    ChainObservation.idx == credit.idx,
                )
            )
        )
        if not sightings or max((o.block_number or 0) for o in sightings) < floor:
            continue  # older than the window: final by policy
        again = session.scalars(
            select(CreditReinstatement).where(CreditReinstatement.credit_id == credit.id)
        ).all()
        open_ = [r for r in again if r.reversal_entry_id is None]
        live = (open_[0].id, open_[0].block_hash, open_[0].journal_entry_id) if open_ else None
        out.append(
            _Reversed(
                credit=_credit_as_observation(credit),
                credit_id=credit.id,
                reversal_entry_id=reversal_entry,
                live=live,
                used=frozenset(r.block_hash for r in again),
                sightings=sightings,
            )
        )
    return out


def _reinstate_reincluded(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    best: _BestChain,
    policy: ConfirmationPolicy,
    head: int,
    floor: int,
) -> tuple[list[int], list[int]]:
    """Re-credit reversed credits whose transaction is back; take back those that left again."""
    with transaction(factory) as session:
        reversed_credits = _reversed_credits(session, adapter.chain.value, floor)
    reinstated: list[int] = []
    taken_back: list[int] = []
    best.prefetch(o.block_number for item in reversed_credits for o in item.sightings)
    for item in reversed_credits:
        in_best = [
            o
            for o in item.sightings
            if o.status is ObservationStatus.SUCCESS and best.has(o.block_number, o.block_hash)
        ]
        if item.live is not None:
            if not in_best and _take_back(factory, item):
                taken_back.append(item.credit_id)
            continue
        fresh = [
            o
            for o in in_best
            if o.block_hash not in item.used
            and head - (o.block_number or head) + 1 >= policy.required(o.asset)
        ]
        if not fresh:
            continue
        obs = fresh[0]
        check = adapter.verify_credit(obs)
        if check.reason is not None or check.amount_minor != item.credit.amount_minor:
            with transaction(factory) as session:
                security_event(
                    session, "reinstatement_unverified", obs, reason=check.reason or "amount"
                )
            continue
        if _reinstate(factory, item, obs):
            reinstated.append(item.credit_id)
    return reinstated, taken_back


def _reinstate(factory: sessionmaker[Session], item: _Reversed, obs: Observation) -> bool:
    ref = _ref(obs.chain, obs.txid, obs.idx)
    assert obs.block_hash is not None  # noqa: S101 - only block sightings get here
    try:
        with transaction(factory) as session:
            session.scalars(
                select(Credit.id).where(Credit.id == item.credit_id).with_for_update()
            ).one()
            live = session.scalar(
                select(CreditReinstatement.id).where(
                    CreditReinstatement.credit_id == item.credit_id,
                    CreditReinstatement.reversal_entry_id.is_(None),
                )
            )
            if live is not None:
                return False  # a concurrent run reinstated it first
            entry, _reason = _negate(
                session,
                item.reversal_entry_id,
                kind=REINSTATEMENT_KIND,
                ref=f"{ref}:{obs.block_hash}",
                memo=f"deposit re-included at block {obs.block_number} after its reversal",
            )
            session.add(
                CreditReinstatement(
                    credit_id=item.credit_id, block_hash=obs.block_hash, journal_entry_id=entry.id
                )
            )
            session.flush()
            security.warning("security.deposit_reinstated %s block=%s", ref, obs.block_hash)
            audit.record(
                session,
                actor=ACTOR,
                action="security.deposit_reinstated",
                subject_type="chain_tx",
                subject_id=obs.txid[-64:],
                data={"ref": ref, "block_hash": obs.block_hash, "asset": obs.asset},
            )
            return True
    except IntegrityError:
        return False  # this re-inclusion was already reinstated: the unique key did its job


def _take_back(factory: sessionmaker[Session], item: _Reversed) -> bool:
    """The block that re-included the transaction left the best chain too."""
    assert item.live is not None  # noqa: S101 - callers check
    reinstatement_id, block_hash, entry_id = item.live
    ref = _ref(item.credit.chain, item.credit.txid, item.credit.idx)
    with transaction(factory) as session:
        row = session.scalars(
            select(CreditReinstatement)
            .where(CreditReinstatement.id == reinstatement_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        if row.reversal_entry_id is not None:
            return False
        entry, reason = _negate(
            session,
            entry_id,
            kind=REINSTATEMENT_REVERSAL_KIND,
            ref=f"{ref}:{block_hash}",
            memo="re-included deposit left the best chain again",
        )
        row.reversal_entry_id = entry.id
        session.flush()
        security.warning("security.deposit_reorged_after_reinstatement %s reason=%s", ref, reason)
    return True
