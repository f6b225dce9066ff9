"""Keeps the Solana deposit-address pool topped up (signer side).

Solana addresses cannot be derived from public keys (ed25519 has no
non-hardened derivation), so the web tier takes unused ones from a pool the
signer fills: :func:`wallet.custody.addresses.fill_solana_pool`. This sensor
runs where the master key is, so it is the only part of the platform that
decrypts the Solana seed for that; the web tier never does.
"""

from __future__ import annotations

import dagster as dg
from sqlalchemy.exc import IntegrityError

from pipelines import resources
from pipelines.resources import WalletDatabase
from wallet.chains.networks import network_kind
from wallet.custody.addresses import fill_solana_pool
from wallet.custody.vault import SeedVault
from wallet.db.session import transaction
from wallet.devkeys import platform_kms
from wallet.errors import WalletError

# Free addresses to keep: each external Solana payment takes one, so this is
# the burst of new Solana payments the pool absorbs between two ticks.
SOLANA_POOL_TARGET = 50


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def solana_pool_sensor(db: WalletDatabase) -> dg.SkipReason:
    """Derive Solana deposit addresses until ``SOLANA_POOL_TARGET`` are unassigned."""
    settings = resources._settings()  # via the module so tests can point it elsewhere
    vault = SeedVault(platform_kms(settings), network_kind(settings))
    try:
        with transaction(db.factory()) as session:
            added = fill_solana_pool(session, vault, SOLANA_POOL_TARGET)
    except IntegrityError:
        # Another filler took the same derivation indexes first; its
        # transaction won and ours rolled back whole. The next tick tops up.
        return dg.SkipReason("another filler raced this tick; retrying next tick")
    except WalletError as exc:  # e.g. no Solana seed yet, or a wrong master key
        return dg.SkipReason(f"solana pool not filled: {exc.code}")
    return dg.SkipReason(f"solana pool: added {added} (target {SOLANA_POOL_TARGET} free)")
