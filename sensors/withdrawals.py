"""Custody's withdrawal worker, one pass per tick (signer side).

Each tick runs :func:`wallet.custody.withdrawal_worker.advance_withdrawals`
in the long-lived code server: ``held`` withdrawals are signed and
broadcast from the hot wallet, ``broadcast`` ones posted once deep enough
(or failed, their hold voided). An idle tick is one indexed query: no
signer, no adapter, no RPC. Leased claims (``SKIP LOCKED``) let several
code servers or a second daemon run it at once without sending anything
twice, and the broadcast is keyed by our hold ref, so Dagster's
at-least-once ticks are harmless.

:func:`withdrawals_step` is the plain step; :data:`withdrawals_sensor` is
it as a cursor-less, run-less sensor, which :mod:`sensors.combined` runs
in a shared tick (it may move to any group or stand alone).

The dependencies are built from settings on the first tick with work, with
the platform's own builders — :func:`wallet.custody.service.build_signer`
(the platform KMS's vault, as the Solana pool sensor's), custody's
confirmation policy, and the chain sensors' adapters
(:class:`sensors.chains.SharedAdapter` over :func:`sensors.chains.settings_adapter`,
kept open across ticks) — and kept for the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import dagster as dg

from pipelines import resources
from pipelines.resources import WalletDatabase
from sensors.chains import CHAINS, SharedAdapter, settings_adapter
from wallet.custody.withdrawal_worker import WithdrawalDeps, WithdrawalReport, advance_withdrawals
from wallet.db.claims import new_worker_id

# Withdrawals claimed per tick: a tick's RPC work stays bounded (a few calls each).
BATCH = 20


class SettingsDeps:
    """:class:`WithdrawalDeps` from :func:`pipelines.resources._settings`, built once.

    Rebuilt (old adapters closed) only if the settings object changes, which
    happens in tests that point the resources elsewhere, never in a running
    code location (settings are read once per process).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: Any = None
        self._deps: WithdrawalDeps | None = None

    def __call__(self) -> WithdrawalDeps:
        from wallet.custody.addresses import PublicKeys
        from wallet.custody.service import build_signer, confirmation_policy, platform_vault

        settings = resources._settings()  # via the module so tests can point it elsewhere
        with self._lock:
            if self._deps is None or self._settings is not settings:
                self._close()
                vault = platform_vault(settings)
                self._deps = WithdrawalDeps(
                    signer=build_signer(settings, vault),
                    adapters={c: SharedAdapter(settings_adapter(c)) for c in CHAINS},
                    policy=confirmation_policy(settings),
                    keys=PublicKeys(vault),
                )
                self._settings = settings
            return self._deps

    def _close(self) -> None:
        if self._deps is not None:
            for chain in CHAINS:
                adapter = self._deps.adapters.get(chain)
                if isinstance(adapter, SharedAdapter):
                    adapter.discard()
        self._deps = None


_deps = SettingsDeps()
_worker: list[str] = []


def worker_id() -> str:
    """This process's name in the withdrawal leases (one per code server)."""
    if not _worker:
        _worker.append(new_worker_id("withdrawals"))
    return _worker[0]


def withdrawals_step(
    db: WalletDatabase, deps: Callable[[], WithdrawalDeps] | None = None
) -> WithdrawalReport:
    """One pass over the withdrawal queue; ``deps`` defaults to the settings' (a provider)."""
    return advance_withdrawals(db.factory(), deps or _deps, worker_id=worker_id(), limit=BATCH)


@dg.sensor(minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def withdrawals_sensor(context: dg.SensorEvaluationContext, db: WalletDatabase) -> dg.SkipReason:
    """Send held withdrawals and post confirmed ones; says what it moved.

    A withdrawal whose step raised is retried after a pause; the tick then
    fails naming it (after the others were moved), so it shows in the UI.
    """
    report = withdrawals_step(db)
    if not report.idle:
        context.log.info(f"withdrawals: {report}")
    if report.errors:
        key, error = report.errors[0]
        raise RuntimeError(f"{len(report.errors)} withdrawal(s) not moved, e.g. {key}: {error}")
    return dg.SkipReason(f"withdrawals: {report}")
