"""Balance checks: what we hold on-chain and on venues against the ledger.

Both are point-in-time comparisons (they look at today's balances, not at
the report's day window), read from the reconciliation snapshot.

``onchain_balance_mismatch`` — per chain and asset: Σ the live balances of
every address we control (``wallet_addresses`` rows, plus any extra ones
such as the configured cold addresses) against the ledger's custody
accounts ``hot:<chain>:A`` + ``escrow:<chain>:A`` + ``cold:<chain>:A``.
The ledger has no per-address accounts (see :mod:`wallet.custody.sweeps`):
``hot:`` is everything we hold on a chain, so sweeps do not move it. Users'
``user:<id>:wallet:A`` balances are *liabilities* already backed by those
asset accounts (a deposit is Dr ``hot:`` / Cr ``user:``), so adding them
would count the same coins twice; their total is reported in the break's
detail and in ``totals`` so an operator sees coverage at a glance.

**Tolerance: in-flight deposits only.** Coins that have landed in a block
on one of our addresses but that the ledger has not booked yet make the
chain legitimately *ahead* of the books. They are computed, not guessed:
successful observations on the best chain at our addresses with no
``credits`` row, except payment deposits whose settlement ``collect`` entry
already booked them into ``escrow:`` (those never get a credit row; see
:mod:`wallet.chains.confirmations`, "Single counting"). A chain/asset
reconciles when ``0 ≤ chain − ledger ≤ in_flight``; anything else (the
chain short of the books, or ahead by more than is in flight) is a break.

``exchange_balance_mismatch`` — per venue and asset: the venue's total
(free + locked) against ``exchange:<venue>:A``. Venue assets outside our
registry are not ours to book and are skipped; venue amounts are rounded
down to the asset's minor unit (no venue reports finer than that for our
assets).

Chains and venues are passed in (adapters / clients), so tests can hand
in fakes and production the real ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.assets import REGISTRY, get_asset
from wallet.chains.base import ChainAdapter
from wallet.custody.errors import ChainError
from wallet.db.models.chain import ChainObservation, Credit
from wallet.db.models.ledger import JournalEntry, LedgerAccount, LedgerBalance
from wallet.db.models.payments import Payment
from wallet.db.models.users import WalletAddress
from wallet.exchanges.base import ExchangeClient
from wallet.exchanges.errors import ExchangeError
from wallet.exchanges.types import plain
from wallet.money import Rounding, parse_minor
from wallet.reconciliation.report import Break
from wallet.settlement import ledger

CUSTODY_PREFIXES = ("hot", "escrow", "cold")


def ledger_balances(session: Session, prefix: str) -> dict[str, int]:
    """Normal-side cached balance of every account whose code starts with ``prefix``."""
    rows = session.execute(
        select(LedgerAccount.code, LedgerBalance.balance, LedgerBalance.normal_sign)
        .join(LedgerBalance, LedgerBalance.account_id == LedgerAccount.id)
        .where(LedgerAccount.code.startswith(prefix, autoescape=True))
    )
    return {code: sign * int(balance) for code, balance, sign in rows}


def custody_ledger(session: Session, chain: str) -> dict[str, int]:
    """Asset → Σ ``hot:``/``escrow:``/``cold:`` balances on ``chain``."""
    out: dict[str, int] = defaultdict(int)
    for prefix in CUSTODY_PREFIXES:
        for code, amount in ledger_balances(session, f"{prefix}:{chain}:").items():
            out[code.rsplit(":", 1)[1]] += amount
    return dict(out)


def user_wallet_totals(session: Session) -> dict[str, int]:
    """Asset → Σ payers' custodial balances (liabilities the custody accounts back)."""
    out: dict[str, int] = defaultdict(int)
    for code, amount in ledger_balances(session, "user:").items():
        if ":wallet:" in code:
            out[code.rsplit(":", 1)[1]] += amount
    return dict(out)


def our_addresses(session: Session) -> dict[str, set[str]]:
    """Chain → every address we derived (users' deposit addresses and platform ones)."""
    out: dict[str, set[str]] = defaultdict(set)
    for chain, address in session.execute(select(WalletAddress.chain, WalletAddress.address)):
        out[chain].add(address)
    return dict(out)


def chains_in_use(session: Session) -> set[str]:
    """Chains where we have an address or a non-zero custody account."""
    chains = set(our_addresses(session))
    for prefix in CUSTODY_PREFIXES:
        for code, amount in ledger_balances(session, f"{prefix}:").items():
            if amount:
                chains.add(code.split(":")[1])
    return chains


def in_flight(session: Session, chain: str, addresses: Iterable[str]) -> dict[str, int]:
    """Asset → coins in a block at our ``addresses`` that the ledger has not booked yet."""
    ours = set(addresses)
    credited = {
        (txid, idx)
        for txid, idx in session.execute(
            select(Credit.txid, Credit.idx).where(Credit.chain == chain)
        )
    }
    collected = set(
        session.scalars(select(JournalEntry.ref).where(JournalEntry.kind == ledger.KIND_COLLECT))
    )
    booked_deposits = {
        (p.deposit_address, p.asset)
        for p in session.scalars(select(Payment).where(Payment.deposit_address.is_not(None)))
        if p.id in collected and get_asset(p.asset).chain.value == chain
    }
    out: dict[str, int] = defaultdict(int)
    seen: set[tuple[str, int]] = set()
    observations = session.scalars(
        select(ChainObservation).where(
            ChainObservation.chain == chain,
            ChainObservation.status == "success",
            ChainObservation.block_hash.is_not(None),
        )
    )
    for o in observations:
        key = (o.txid, o.idx)
        if key in seen or key in credited or o.address not in ours:
            continue  # the same output sighted again (re-org) counts once
        seen.add(key)
        if (o.address, o.asset) in booked_deposits:
            continue
        out[o.asset] += o.amount_minor
    return dict(out)


def _chain_assets(chain: str, adapter: ChainAdapter) -> tuple[list[str], list[str]]:
    """(assets we can read on ``chain``, registry tokens with no allowlisted contract)."""
    tokens = getattr(adapter, "tokens", {}) or {}
    readable: list[str] = []
    unreadable: list[str] = []
    for symbol, spec in REGISTRY.items():
        if spec.chain.value != chain:
            continue
        (readable if spec.is_native or symbol in tokens else unreadable).append(symbol)
    return readable, unreadable


def onchain_balance_breaks(
    session: Session,
    adapters: Mapping[str, ChainAdapter],
    *,
    extra_addresses: Mapping[str, Iterable[str]] | None = None,
    totals: dict[str, int] | None = None,
) -> list[Break]:
    """Σ on-chain balances of our addresses vs the ledger's custody accounts, per chain."""
    out: list[Break] = []
    totals = totals if totals is not None else {}
    addresses = our_addresses(session)
    users = user_wallet_totals(session)
    for chain in sorted(chains_in_use(session) | set(adapters)):
        adapter = adapters.get(chain)
        if adapter is None:
            out.append(Break("chain_unreachable", chain, "", 0, 0, "no adapter configured"))
            continue
        mine = {adapter.normalise(a) for a in addresses.get(chain, set())}
        mine |= {adapter.normalise(a) for a in (extra_addresses or {}).get(chain, ())}
        books = custody_ledger(session, chain)
        pending = in_flight(session, chain, mine)
        readable, unreadable = _chain_assets(chain, adapter)
        for asset in unreadable:
            if books.get(asset, 0):
                out.append(
                    Break(
                        "chain_unreachable",
                        f"{chain}:{asset}",
                        asset,
                        books[asset],
                        0,
                        "no allowlisted contract/mint to read",
                    )
                )
        for asset in readable:
            try:
                held = sum(adapter.balance(a, asset) for a in sorted(mine))
            except ChainError as exc:
                out.append(Break("chain_unreachable", f"{chain}:{asset}", asset, 0, 0, str(exc)))
                continue
            ours = books.get(asset, 0)
            flight = pending.get(asset, 0)
            totals[f"onchain:{chain}:{asset}"] = held
            totals[f"ledger_custody:{chain}:{asset}"] = ours
            difference = held - ours
            if not 0 <= difference <= flight:
                out.append(
                    Break(
                        "onchain_balance_mismatch",
                        f"{chain}:{asset}",
                        asset,
                        ours,
                        held,
                        f"difference={difference} in_flight={flight} "
                        f"user_wallets={users.get(asset, 0)} addresses={len(mine)}",
                    )
                )
    return out


def exchange_balance_breaks(
    session: Session,
    exchanges: Mapping[str, ExchangeClient],
    *,
    totals: dict[str, int] | None = None,
) -> list[Break]:
    """Each venue's balances vs the ledger's ``exchange:<venue>:<ASSET>`` accounts."""
    out: list[Break] = []
    totals = totals if totals is not None else {}
    for venue in sorted(exchanges):
        books = {
            code.rsplit(":", 1)[1]: amount
            for code, amount in ledger_balances(session, f"exchange:{venue}:").items()
        }
        try:
            remote = exchanges[venue].balances()
        except ExchangeError as exc:
            out.append(Break("venue_unreachable", venue, "", 0, 0, exc.code))
            continue
        theirs: dict[str, int] = {}
        for symbol, balance in remote.items():
            if symbol in REGISTRY:
                decimals = get_asset(symbol).decimals
                theirs[symbol] = parse_minor(plain(balance.total), decimals, Rounding.DOWN)
        for asset in sorted(set(books) | set(theirs)):
            ours, held = books.get(asset, 0), theirs.get(asset, 0)
            totals[f"exchange:{venue}:{asset}"] = held
            if ours != held:
                out.append(
                    Break(
                        "exchange_balance_mismatch",
                        f"{venue}:{asset}",
                        asset,
                        ours,
                        held,
                        f"difference={held - ours}",
                    )
                )
    return out


def book_venue_opening(session: Session, venue: str, client: ExchangeClient) -> list[str]:
    """Book what a venue already holds as our opening inventory (once per venue and asset).

    A venue account funded before the ledger existed (the sandbox's seeded
    inventory, or a real account at go-live) would otherwise be a standing
    ``exchange_balance_mismatch``. The entry credits ``external:opening:<ASSET>``
    (equity brought in) and is keyed ``venue.opening``/``<venue>:<ASSET>``, so a
    second call books nothing; later differences remain breaks, as they should.
    """
    from wallet.errors import EntryConflict
    from wallet.ledger import post_entry

    booked: list[str] = []
    for symbol, balance in sorted(client.balances().items()):
        if symbol not in REGISTRY:
            continue
        held = parse_minor(plain(balance.total), get_asset(symbol).decimals, Rounding.DOWN)
        if held <= 0:
            continue
        try:
            post_entry(
                session,
                [(f"exchange:{venue}:{symbol}", symbol, held),
                 (f"external:opening:{symbol}", symbol, -held)],
                kind="venue.opening",
                ref=f"{venue}:{symbol}",
            )  # fmt: skip
        except EntryConflict:
            continue  # opened before with another amount: the difference is a real break
        booked.append(symbol)
    return booked
