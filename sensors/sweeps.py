"""Custody's sweeps, one pass per tick (signer side): deposit addresses → hot wallets.

Each tick runs :func:`wallet.custody.sweep_worker.advance_sweeps` in the
long-lived code server: users' deposit addresses holding at least
``custody_sweep_min`` are swept into their chain's hot wallet (token sweeps
first get gas from it), the hot wallet's surplus above
``custody_cold_threshold`` goes to ``custody_cold_addresses``, and open
sweeps move on. That is what lets the withdrawal worker pay payers from the
hot wallet. An idle tick is one statement (the newest credit id and whether
any sweep is open): no signer, no adapter, no RPC.

:func:`sweeps_step` is the plain step; :data:`sweeps_sensor` is it as a
cursor-less, run-less sensor, which :mod:`sensors.combined` runs in the
housekeeping group's shared tick.

The dependencies are built from settings on the first tick with work — the
platform KMS's signer (:func:`wallet.custody.service.build_signer`), custody's
config (:meth:`wallet.custody.config.CustodyConfig.from_settings`) and the
chains' adapters kept open across ticks (:class:`sensors.chains.SharedAdapter`)
— and kept for the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import dagster as dg

from pipelines import resources
from pipelines.resources import WalletDatabase
from sensors.chains import CHAINS, SharedAdapter, settings_adapter
from wallet.custody.sweep_worker import SweepDeps, SweepTick, SweepWatch, advance_sweeps


class SettingsSweepDeps:
    """:class:`SweepDeps` from :func:`pipelines.resources._settings`, built once per settings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: Any = None
        self._deps: SweepDeps | None = None

    def __call__(self) -> SweepDeps:
        from wallet.custody.addresses import PublicKeys
        from wallet.custody.config import CustodyConfig
        from wallet.custody.service import build_signer, platform_vault

        settings = resources._settings()  # via the module so tests can point it elsewhere
        with self._lock:
            if self._deps is None or self._settings is not settings:
                self._close()
                vault = platform_vault(settings)
                config = CustodyConfig.from_settings(settings)
                self._deps = SweepDeps(
                    signer=build_signer(settings, vault),
                    adapters={c: SharedAdapter(settings_adapter(c)) for c in CHAINS},
                    config=config,
                    keys=PublicKeys(vault),
                )
                self._settings = settings
            return self._deps

    def _close(self) -> None:
        if self._deps is not None:
            for adapter in self._deps.adapters.values():
                if isinstance(adapter, SharedAdapter):
                    adapter.discard()
        self._deps = None


_deps = SettingsSweepDeps()
_watch = SweepWatch()


def sweeps_step(
    db: WalletDatabase,
    deps: Callable[[], SweepDeps] | None = None,
    watch: SweepWatch | None = None,
) -> SweepTick:
    """One sweep pass over every chain; ``deps`` and ``watch`` default to the process's."""
    return advance_sweeps(db.factory(), deps or _deps, chains=CHAINS, watch=watch or _watch)


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def sweeps_sensor(context: dg.SensorEvaluationContext, db: WalletDatabase) -> dg.SkipReason:
    """Sweep deposit addresses into the hot wallets (and surplus to cold); says what moved.

    A chain whose pass raised (a node down) is tried again next tick; the
    tick then fails naming it, after the other chains ran.
    """
    tick = sweeps_step(db)
    if not tick.idle:
        context.log.info(f"sweeps: {tick}")
    if tick.errors:
        chain, error = tick.errors[0]
        raise RuntimeError(f"sweeps failed on {len(tick.errors)} chain(s), e.g. {chain}: {error}")
    return dg.SkipReason(f"sweeps: {tick}")
