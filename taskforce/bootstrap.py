"""One-time platform set-up that `taskforce run` (and operators) perform.

- ``init_custody``: the per-family seeds (encrypted under the master key)
  and a pool of pre-derived Solana addresses, since the web tier can derive
  EVM and UTXO addresses from xpubs but Solana has no public derivation.
- ``fund_demo_payer``: real on-chain transfers from the sandbox faucets to
  the demo payer's deposit addresses; the chain sensors then see, confirm
  and credit them exactly as they would a real deposit, and the sweep
  sensor (``sensors.sweeps``) moves them into each chain's hot wallet — the
  hot wallets start empty, and that is what the payer's withdrawals are
  paid from. Each address holds its chain's native coin, so its token
  sweeps pay their own gas and need no top-up from an empty hot wallet.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox.manager import Sandbox
from wallet.assets import ChainFamily
from wallet.chains.networks import network_kind
from wallet.config import Settings
from wallet.custody.addresses import fill_solana_pool
from wallet.custody.service import CustodyService, public_keys
from wallet.custody.vault import SeedVault
from wallet.db.models import User
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.devkeys import platform_kms

SOLANA_POOL_SIZE = 50

# What the demo payer receives on the sandbox chains (display units).
DEMO_FUNDING: tuple[tuple[str, str], ...] = (
    ("SOL", "25"),
    ("USDC-SPL", "500"),
    ("BONK", "50000000"),
    ("ETH", "2"),
    ("USDC", "500"),
    ("BTC", "0.05"),
    ("DOGE", "5000"),
)


@contextmanager
def _factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.resolved_database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def init_custody(settings: Settings) -> None:
    """Create missing seeds and top the Solana address pool up (idempotent)."""
    vault = SeedVault(platform_kms(settings), network_kind(settings))
    with _factory(settings) as factory, transaction(factory) as session:
        for family in (ChainFamily.EVM, ChainFamily.SOLANA, ChainFamily.UTXO):
            vault.create_seed(session, family)
        fill_solana_pool(session, vault, SOLANA_POOL_SIZE)


def open_venue_inventory(settings: Settings) -> list[str]:
    """Book the sandbox venues' seeded inventory as opening balances (idempotent)."""
    from wallet.exchanges.registry import venue_clients
    from wallet.reconciliation.balances import book_venue_opening

    kms = platform_kms(settings)
    lines: list[str] = []
    with _factory(settings) as factory:
        clients = venue_clients(factory, settings, kms, include_disabled=True)
        with transaction(factory) as session:
            for venue, client in clients.items():
                assets = book_venue_opening(session, venue, client)
                lines.append(f"{venue}: {', '.join(assets) or 'nothing'}")
    return lines


def fund_demo_payer(settings: Settings, sandbox: Sandbox, email: str) -> list[str]:
    """Send the demo payer's starting balances on chain; returns one line per transfer."""
    service = CustodyService(
        public_keys(network_kind(settings)), network_kind(settings), settings.token_contracts
    )
    targets: list[tuple[str, str, str]] = []
    with _factory(settings) as factory, transaction(factory) as session:
        user_id = session.scalar(select(User.id).where(User.email == email))
        if user_id is None:
            return []
        for asset, amount in DEMO_FUNDING:
            address, _uri = service.deposit_address(session, user_id, asset)
            targets.append((asset, amount, address))
    lines = []
    for asset, amount, address in targets:
        sandbox.fund(address, asset, amount)
        lines.append(f"{amount} {asset} → {address}")
    return lines
