"""Sweeps: user deposit addresses → hot wallet, and hot-wallet surplus → cold storage.

**Accounting choice: a sweep moves custody location, not ownership.**
A deposit is credited ``hot:<chain>:<ASSET>`` Dr / ``user:<id>:wallet``
Cr the moment it is confirmed (:mod:`wallet.custody.deposits`), whichever
of our addresses it landed on. The ledger has no per-address accounts:
``hot:<chain>:<ASSET>`` is "coins we hold on <chain>" — deposit addresses,
the hot wallet and the cold address together. So a sweep (and a gas
top-up, and a cold move) posts *no* entry for the principal: no user's
balance changes and our total holding does not either. Where the coins
sit is recorded here, in ``custody_sweeps``, and in the chain itself. What
a sweep does change is the fees it burns: every top-up and transfer that
lands books its actual fee ``expense:network_fees:<NATIVE>`` Dr /
``hot:<chain>:<NATIVE>`` Cr (:mod:`wallet.custody.fees`). Native coin
left on a deposit address after a top-up is still ours, still in
``hot:<chain>:<NATIVE>``, and is swept with the next native sweep.

**Flow** (one :class:`~wallet.custody.models.CustodySweep` row per sweep
id, advanced by :func:`advance_sweep`, safe to re-run or crash anywhere):

1. ``planned`` — :func:`plan_sweeps` records a sweep for a deposit address
   whose balance reached ``sweep_min`` after a credit newer than its last
   sweep, and for a completed external payment's deposit address (its
   escrow, id ``…:payment:<id>``); :func:`plan_cold` one for the hot wallet's surplus above
   ``cold_threshold``. Sweep ids are deterministic (the newest credit id,
   or a per-asset sequence), so concurrent planners make one row.
2. ``topup`` — an ERC-20 or SPL sweep whose address lacks native coin for
   the fee (and, on Solana, the rent-exempt minimum plus a possible token
   account rent) first gets it from the hot wallet (``Purpose.GAS_TOPUP``
   under ``<id>:topup``) and waits for it to land.
3. ``sent`` — the amount is fixed and stored, then the transfer is signed
   once and broadcast under ``<id>:tx`` (:func:`wallet.chains.broadcast.send`):
   a retry after a dropped or ambiguous broadcast re-sends the same bytes.
4. ``confirmed`` / ``failed`` — fees booked; a failed sweep leaves the
   coins where they were and a later credit plans a new one. Only a refusal
   no retry can change fails a sweep (:func:`wallet.custody.errors.is_refusal`:
   the allowlist, the per-transaction cap); the signer's daily cap, a missing
   key or a node error leave it where it is for the next tick.

One open sweep per source address at a time (tokens first), so a native
sweep never spends the gas a token sweep on the same address is waiting on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import REGISTRY, Chain, ChainFamily, get_asset
from wallet.chains.base import ChainAdapter, Purpose, TransferIntent
from wallet.chains.broadcast import BroadcastView, refresh, send, signed_transfer
from wallet.chains.models import BroadcastStatus
from wallet.chains.solana import SolanaAdapter
from wallet.chains.utxo import UtxoAdapter
from wallet.custody.addresses import platform_address_any
from wallet.custody.config import CustodyConfig
from wallet.custody.errors import ChainError, CustodyError, is_refusal
from wallet.custody.fees import NETWORK_FEE_KIND, book_network_fee, native_asset
from wallet.custody.models import CustodySweep, SweepKind, SweepStatus
from wallet.custody.signer import Signer
from wallet.db.models.chain import Credit
from wallet.db.models.users import AddressPurpose, WalletAddress
from wallet.db.session import transaction
from wallet.ledger import entry_postings, find_entry

log = logging.getLogger(__name__)

OPEN = (SweepStatus.PLANNED, SweepStatus.TOPUP, SweepStatus.SENT)
BPS = 10_000


@dataclass(frozen=True, slots=True)
class SweepView:
    """A snapshot of a sweep row, usable after its session closed."""

    key: str
    kind: SweepKind
    chain: Chain
    asset: str
    from_address: str
    to_address: str
    amount_minor: int | None
    topup_minor: int | None
    status: SweepStatus

    @property
    def topup_key(self) -> str:
        return f"{self.key}:topup"

    @property
    def tx_key(self) -> str:
        return f"{self.key}:tx"


@dataclass
class SweepReport:
    planned: list[str] = field(default_factory=list)
    statuses: dict[str, SweepStatus] = field(default_factory=dict)


def _view(row: CustodySweep) -> SweepView:
    return SweepView(
        row.key, row.kind, Chain(row.chain), row.asset, row.from_address, row.to_address,
        row.amount_minor, row.topup_minor, row.status,
    )  # fmt: skip


def _lock(session: Session, key: str) -> CustodySweep:
    return session.scalars(
        select(CustodySweep)
        .where(CustodySweep.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def get_sweep(factory: sessionmaker[Session], key: str) -> SweepView:
    with transaction(factory) as session:
        return _view(session.scalars(select(CustodySweep).where(CustodySweep.key == key)).one())


def _chain_assets(adapter: ChainAdapter) -> list[str]:
    """Assets of the adapter's chain it can move: the native coin and its configured tokens."""
    tokens = getattr(adapter, "tokens", {})
    return [
        symbol
        for symbol, spec in REGISTRY.items()
        if spec.chain is adapter.chain and (spec.is_native or symbol in tokens)
    ]


def _insert(session: Session, row: CustodySweep) -> bool:
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False  # a concurrent planner recorded the same sweep id
    return True


# -- planning ------------------------------------------------------------------


def plan_sweeps(
    factory: sessionmaker[Session], adapter: ChainAdapter, cfg: CustodyConfig
) -> list[str]:
    """Record sweeps for user addresses holding at least ``sweep_min`` since their last sweep.

    Cost grows with addresses that received a credit since their last
    sweep (one balance read each), not with all addresses.
    """
    chain = adapter.chain.value
    assets = set(_chain_assets(adapter))
    with transaction(factory) as session:
        hot = platform_address_any(session, adapter.chain, AddressPurpose.HOT)
        credited = session.execute(
            select(Credit.address, Credit.asset, func.max(Credit.id), func.max(Credit.created_at))
            .join(
                WalletAddress,
                (WalletAddress.chain == Credit.chain) & (WalletAddress.address == Credit.address),
            )
            .where(Credit.chain == chain, WalletAddress.user_id.is_not(None))
            .group_by(Credit.address, Credit.asset)
        ).all()
        last = {
            (a, s): t
            for a, s, t in session.execute(
                select(
                    CustodySweep.from_address, CustodySweep.asset, func.max(CustodySweep.created_at)
                )
                .where(CustodySweep.chain == chain, CustodySweep.kind == SweepKind.SWEEP)
                .group_by(CustodySweep.from_address, CustodySweep.asset)
            )
        }
        busy = set(
            session.scalars(
                select(CustodySweep.from_address).where(
                    CustodySweep.chain == chain, CustodySweep.status.in_(OPEN)
                )
            )
        )
        escrow = _settled_escrow(session, chain, assets, cfg)
    # Tokens first: their top-up must not be swept away by a native sweep.
    candidates: list[tuple[str, str, str, datetime | None]] = sorted(
        (
            (address, asset, str(credit_id), credited_at)
            for address, asset, credit_id, credited_at in credited
            if asset in assets and asset in cfg.sweep_min
        ),
        key=lambda r: (get_asset(r[1]).is_native, int(r[2])),
    )
    # Settled payments' deposit addresses: their escrow coins join the hot wallet.
    candidates += sorted(
        ((address, asset, f"payment:{pid}", None) for address, asset, pid in escrow),
        key=lambda r: get_asset(r[1]).is_native,
    )
    planned: list[str] = []
    for address, asset, source, credited_at in candidates:
        swept_at = last.get((address, asset))
        if address in busy or (
            swept_at is not None and (credited_at is None or swept_at >= credited_at)
        ):
            continue
        amount = _sweepable(adapter, address, asset)
        if amount < cfg.sweep_min[asset] or not worth_sweeping(adapter, asset, amount):
            continue
        key = f"sweep:{chain}:{asset}:{address}:{source}"
        row = CustodySweep(
            key=key, kind=SweepKind.SWEEP, chain=chain, asset=asset,
            from_address=address, to_address=hot, status=SweepStatus.PLANNED,
        )  # fmt: skip
        with transaction(factory) as session:
            if _insert(session, row):
                planned.append(key)
        busy.add(address)
    return planned


# Settled payment addresses looked at per planning pass (the oldest first).
ESCROW_BATCH = 100


def _settled_escrow(
    session: Session, chain: str, assets: set[str], cfg: CustodyConfig
) -> list[tuple[str, str, str]]:
    """(address, asset, payment id) of completed external payments never swept from.

    The deposit of an external payment is booked once, into
    ``escrow:<chain>:<A>``, by settlement's collect entry, and never gets a
    ``credits`` row (:mod:`wallet.chains.confirmations`), so the credit-driven
    planning above never sees it. Once the payment is ``completed`` the coins
    are ours to move: like any sweep this books only its fee. Only payments
    worth at least ``sweep_min`` are considered, so dust does not come back
    every pass; an address swept once is done (a late deposit to it is an
    ordinary credit and takes the path above).
    """
    from wallet.db.models.payments import Payment, PaymentSource
    from wallet.payments.states import PaymentStatus

    big_enough = [
        (Payment.asset == asset) & (Payment.amount_minor >= minimum)
        for asset, minimum in cfg.sweep_min.items()
        if asset in assets
    ]
    if not big_enough:
        return []
    swept = (
        select(CustodySweep.id)
        .where(
            CustodySweep.chain == chain,
            CustodySweep.from_address == Payment.deposit_address,
            CustodySweep.asset == Payment.asset,
        )
        .exists()
    )
    rows = session.execute(
        select(Payment.deposit_address, Payment.asset, Payment.id)
        .where(
            Payment.source == PaymentSource.EXTERNAL,
            Payment.status == PaymentStatus.COMPLETED,
            Payment.deposit_address.is_not(None),
            or_(*big_enough),
            ~swept,
        )
        .order_by(Payment.updated_at, Payment.id)
        .limit(ESCROW_BATCH)
    ).all()
    return [(str(a), str(s), str(p)) for a, s, p in rows]


def worth_sweeping(adapter: ChainAdapter, asset: str, amount: int) -> bool:
    """Whether a native sweep moves more than its fee; ``sweep_min`` alone is a static guess.

    An EVM native sweep keeps twice the fee estimate back (:func:`_transfer_amount`),
    so it must hold more than three fees to deliver more than it burns. Tokens pay
    their fee in another coin (no common unit here: ``sweep_min`` decides), and a
    UTXO sweep's amount is already what arrives after its fee.
    """
    spec = get_asset(asset)
    if not spec.is_native or spec.family is ChainFamily.UTXO:
        return True
    return amount > 3 * adapter.estimate_fee(asset)


def _sweepable(adapter: ChainAdapter, address: str, asset: str) -> int:
    if isinstance(adapter, UtxoAdapter):  # what consolidating every coin delivers
        return adapter.sweep_amount(address)
    return adapter.balance(address, asset)


def plan_cold(
    factory: sessionmaker[Session], adapter: ChainAdapter, cfg: CustodyConfig
) -> list[str]:
    """Record a cold move for each asset whose hot balance exceeds its ``cold_threshold``."""
    chain = adapter.chain.value
    cold = cfg.cold_addresses.get(chain)
    if cold is None:
        return []
    with transaction(factory) as session:
        hot = platform_address_any(session, adapter.chain, AddressPurpose.HOT)
    planned: list[str] = []
    for asset in _chain_assets(adapter):
        threshold = cfg.cold_threshold.get(asset)
        if threshold is None:
            continue
        surplus = adapter.balance(hot, asset) - threshold
        if surplus <= 0 or surplus < cfg.sweep_min.get(asset, 1):
            continue
        with transaction(factory) as session:
            rows = session.scalars(
                select(CustodySweep.status).where(
                    CustodySweep.chain == chain,
                    CustodySweep.asset == asset,
                    CustodySweep.kind == SweepKind.COLD,
                )
            ).all()
            if any(status in OPEN for status in rows):
                continue
            key = f"cold:{chain}:{asset}:{len(rows) + 1}"
            row = CustodySweep(
                key=key, kind=SweepKind.COLD, chain=chain, asset=asset,
                from_address=hot, to_address=cold, status=SweepStatus.PLANNED,
            )  # fmt: skip
            if _insert(session, row):
                planned.append(key)
    return planned


# -- amounts ---------------------------------------------------------------------


def _topup_needed(adapter: ChainAdapter, sweep: SweepView, cfg: CustodyConfig) -> int:
    """Native coin a token sweep's address lacks for its fee (and Solana rent)."""
    spec = get_asset(sweep.asset)
    if spec.is_native or sweep.kind is SweepKind.COLD:
        return 0
    fee = -(-adapter.estimate_fee(sweep.asset) * cfg.topup_margin_bps // BPS)
    need = fee
    if isinstance(adapter, SolanaAdapter):
        # A fee payer must stay rent-exempt after paying (or hold nothing at all).
        need += adapter.rent_exempt_minimum(0)
    have = adapter.balance(sweep.from_address, native_asset(sweep.chain))
    return max(0, need - have)


def _transfer_amount(adapter: ChainAdapter, sweep: SweepView, cfg: CustodyConfig) -> int:
    """What the transfer moves, fixed once when it is first signed."""
    spec = get_asset(sweep.asset)
    if sweep.kind is SweepKind.COLD:
        threshold = cfg.cold_threshold.get(sweep.asset)
        if threshold is None:
            return 0
        return adapter.balance(sweep.from_address, sweep.asset) - threshold
    if spec.family is ChainFamily.UTXO:
        return _sweepable(adapter, sweep.from_address, sweep.asset)
    balance = adapter.balance(sweep.from_address, sweep.asset)
    if not spec.is_native:
        return balance
    if sweep.chain is Chain.SOLANA:
        return balance - adapter.estimate_fee(sweep.asset)  # exact: leaves the account empty
    # EVM: the fee cap is fixed at signing and may have risen since; keep twice the estimate.
    return balance - 2 * adapter.estimate_fee(sweep.asset)


# -- advancing -------------------------------------------------------------------


def _intent(sweep: SweepView, topup: bool) -> TransferIntent:
    if topup:
        return TransferIntent(
            sweep.topup_key, sweep.chain, native_asset(sweep.chain), sweep.to_address,
            sweep.from_address, sweep.topup_minor or 0, Purpose.GAS_TOPUP,
        )  # fmt: skip
    purpose = Purpose.COLD if sweep.kind is SweepKind.COLD else Purpose.SWEEP
    return TransferIntent(
        sweep.tx_key, sweep.chain, sweep.asset, sweep.from_address, sweep.to_address,
        sweep.amount_minor or 0, purpose,
    )  # fmt: skip


def _set(
    factory: sessionmaker[Session],
    key: str,
    expect: tuple[SweepStatus, ...],
    status: SweepStatus,
    **values: object,
) -> SweepView:
    """Move a sweep on under its row lock, only from an ``expect``-ed status."""
    with transaction(factory) as session:
        row = _lock(session, key)
        if row.status in expect:
            row.status = status
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
        return _view(row)


def _push(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    signer: Signer,
    intent: TransferIntent,
    confirmations: int,
) -> BroadcastView:
    """Send (signed once, re-sent as is) and look the outcome up."""
    view = send(factory, adapter, signer, intent)
    if view.status in (BroadcastStatus.SIGNED, BroadcastStatus.SENT):
        view = refresh(factory, adapter, intent.key, confirmations=confirmations)
    return view


def _book(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    sweep: SweepView,
    view: BroadcastView,
    native_out: int,
) -> None:
    """Book the landed transaction's fee (confirmed or reverted; a dropped one paid none)."""
    if view.status not in (BroadcastStatus.CONFIRMED, BroadcastStatus.FAILED):
        return
    signed = signed_transfer(factory, view.key)
    if signed is None:  # pragma: no cover - a terminal broadcast has its record
        return
    fee = adapter.fee_paid(signed, native_out)
    with transaction(factory) as session:
        book_network_fee(
            session, sweep.chain, view.key, fee, memo=f"{sweep.kind.value} {view.txid}"
        )
        row = _lock(session, sweep.key)
        row.fee_minor = _fees_booked(session, sweep)
        session.flush()


def _fees_booked(session: Session, sweep: SweepView) -> int:
    """Native units booked as fees for this sweep's top-up and transfer (replays count once)."""
    total = 0
    for key in (sweep.topup_key, sweep.tx_key):
        entry = find_entry(session, NETWORK_FEE_KIND, key)
        if entry is not None:
            total += sum(a for code, _s, a in entry_postings(session, entry.id) if a > 0)
    return total


def advance_sweep(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    signer: Signer,
    key: str,
    cfg: CustodyConfig,
) -> SweepStatus:
    """Take one sweep as far as the chain allows now; call again on the next tick."""
    for _ in range(4):  # planned → topup → sent → confirmed, at most
        sweep = get_sweep(factory, key)
        before = sweep.status
        try:
            sweep = _step(factory, adapter, signer, sweep, cfg)
        except ChainError as exc:
            # Nothing was signed under a new key, or it was recorded first: retry next tick.
            log.warning("sweep %s waits: %s", key, exc.code)
            return sweep.status
        except CustodyError as exc:
            if not is_refusal(exc):  # the daily cap, keys, funds: the next tick tries again
                log.warning("sweep %s waits: %s", key, exc.code)
                return sweep.status
            log.warning("sweep %s refused: %s", key, exc.code)
            return _set(factory, key, OPEN, SweepStatus.FAILED, error=exc.code).status
        if sweep.status is before:
            break
    return sweep.status


def _step(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    signer: Signer,
    sweep: SweepView,
    cfg: CustodyConfig,
) -> SweepView:
    if sweep.status is SweepStatus.PLANNED:
        topup = _topup_needed(adapter, sweep, cfg)
        if topup > 0:
            return _set(
                factory, sweep.key, (SweepStatus.PLANNED,), SweepStatus.TOPUP, topup_minor=topup
            )
        return _fix_amount(factory, adapter, sweep, cfg)
    if sweep.status is SweepStatus.TOPUP:
        view = _push(factory, adapter, signer, _intent(sweep, True), cfg.sweep_confirmations)
        _book(factory, adapter, sweep, view, sweep.topup_minor or 0)
        if view.status is BroadcastStatus.CONFIRMED:
            return _fix_amount(factory, adapter, sweep, cfg)
        if view.status in (BroadcastStatus.FAILED, BroadcastStatus.DROPPED):
            return _set(
                factory, sweep.key, OPEN, SweepStatus.FAILED, error=f"topup_{view.status.value}"
            )
        return sweep
    if sweep.status is SweepStatus.SENT:
        view = _push(factory, adapter, signer, _intent(sweep, False), cfg.sweep_confirmations)
        native_out = (sweep.amount_minor or 0) if get_asset(sweep.asset).is_native else 0
        _book(factory, adapter, sweep, view, native_out)
        if view.status is BroadcastStatus.CONFIRMED:
            return _set(factory, sweep.key, OPEN, SweepStatus.CONFIRMED)
        if view.status in (BroadcastStatus.FAILED, BroadcastStatus.DROPPED):
            return _set(factory, sweep.key, OPEN, SweepStatus.FAILED, error=view.status.value)
    return sweep


def _fix_amount(
    factory: sessionmaker[Session], adapter: ChainAdapter, sweep: SweepView, cfg: CustodyConfig
) -> SweepView:
    """Decide and store the amount before anything is signed with it."""
    amount = _transfer_amount(adapter, sweep, cfg)
    if amount <= 0:
        return _set(factory, sweep.key, OPEN, SweepStatus.FAILED, error="nothing_to_move")
    return _set(
        factory,
        sweep.key,
        (SweepStatus.PLANNED, SweepStatus.TOPUP),
        SweepStatus.SENT,
        amount_minor=amount,
    )


def run_sweeps(
    factory: sessionmaker[Session],
    adapter: ChainAdapter,
    signer: Signer,
    cfg: CustodyConfig,
) -> SweepReport:
    """One sweep tick for a chain: plan new sweeps and cold moves, advance every open one."""
    report = SweepReport()
    report.planned = plan_sweeps(factory, adapter, cfg) + plan_cold(factory, adapter, cfg)
    with transaction(factory) as session:
        keys = list(
            session.scalars(
                select(CustodySweep.key)
                .where(CustodySweep.chain == adapter.chain.value, CustodySweep.status.in_(OPEN))
                .order_by(CustodySweep.id)
            )
        )
    for key in keys:
        report.statuses[key] = advance_sweep(factory, adapter, signer, key, cfg)
    return report
