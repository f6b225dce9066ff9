"""Chain sensors: scan inside the sensor, report observations, launch a run only on a reorg.

Each tick runs custody's :func:`wallet.custody.service.scan_chain` in the
long-lived code server (cost grows with new blocks, not with pending
payments): observations are written idempotently (unique key), confirmed
deposits credited exactly once, and a tick that found or moved something is
reported as an ``AssetObservation`` of ``chain_confirmations``. External
payments are moved on in the same tick
(:func:`wallet.chains.confirmations.advance_payments`: detected, confirmed,
under/overpaid, reorged), and the payments it confirmed get their settlement
run requested by this same tick (run key ``settle:<digest of ids>``): waiting
for the payments sensor's next tick added up to its interval to the vendor's
wait (issue 11: p95 ≤ 8 s after the confirming block). The payments sensor
backs these up after its hand-off grace. A tick without a new block costs the
cursor read and the node's head (one RPC).

The tick has already done everything ``confirmations_job`` would do, so a
confirmations run (a fresh Python process importing the whole code location:
seconds of CPU) is requested only after a reorg, with run key ``<chain>:<start>-<end>:reorg``:
a second look from a clean process at the rare event that reverses credits,
kept in Dagster's run history. Operators can still launch the job by hand.

:func:`chains_sensor` is what the code location runs: one sensor for every
chain, each tick scanning them side by side (a slow node delays only its own
scan) with adapters kept open across ticks. Every Dagster tick costs a
DagsterInstance, storage bookkeeping in the daemon and two gRPC hops, the same
for a tick that finds nothing: one sensor every 5 s for four chains ticks half
as often as four sensors every 10 s did, and each chain waits half as long.
Its cursor is a JSON map ``{chain: "<height>:<hash>"}`` of the last scanned
blocks; :func:`chain_sensor` watches one chain with the
plain ``<height>:<hash>`` cursor. After a reorg the scanner walks back to the
fork point and the cursor moves back with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dagster as dg

from assets.chains import chain_confirmations
from pipelines.jobs import confirmations_job, settlement_job
from pipelines.resources import WalletDatabase
from sensors.payments import settle_requests
from wallet.chains import watcher
from wallet.chains.base import ChainAdapter
from wallet.chains.watcher import WATCHED_CHAINS, SharedAdapter

AdapterFactory = Callable[[], ChainAdapter]

CHAINS = WATCHED_CHAINS

# Seconds between ticks of the all-chains sensor. Confirmation latency (issue
# 11: p95 ≤ 8 s after the confirming block, the payments sensor's 5 s included)
# wants it short; one tick for four chains keeps it cheap.
CHAINS_INTERVAL_S = 5
# With the warm chain watcher running (``settlement_worker``: ``taskforce
# settle-worker`` ticks every chain each second, :mod:`wallet.chains.watcher`)
# this sensor is the safety net, and its ticks are mostly Dagster's own cost.
SAFETY_NET_INTERVAL_S = 30


@dataclass(frozen=True)
class _Tick:
    chain: str
    cursor: str | None
    event: dg.AssetObservation | None = None
    requests: tuple[dg.RunRequest, ...] = ()


def _scan(chain: str, build_adapter: AdapterFactory, db: WalletDatabase) -> _Tick:
    """One chain's tick: scan, credit, advance payments; what Dagster should record."""
    from pipelines.resources import _settings
    from wallet.chains.models import ScanCursor
    from wallet.chains.watcher import tick_chain

    factory = db.factory()
    shared = build_adapter if isinstance(build_adapter, SharedAdapter) else None
    adapter = build_adapter()
    try:
        tick = tick_chain(factory, chain, adapter, _settings())
    except BaseException:
        if shared is not None:
            shared.discard()
        raise
    finally:
        if shared is None:
            adapter.close()
    report, payments = tick.scan, tick.payments
    with factory() as session:
        cursor_row = session.get(ScanCursor, chain)
        cursor = f"{cursor_row.height}:{cursor_row.block_hash}" if cursor_row else None
    if not tick.changed:
        # New blocks with nothing in them for us: the cursor moves, nothing is
        # recorded (an observation per chain per tick would grow the event log
        # by tens of thousands of rows a day and cost the daemon a write each).
        return _Tick(chain, cursor)
    event = dg.AssetObservation(
        asset_key=chain_confirmations.key,
        metadata={
            "chain": chain,
            "blocks": f"{report.start}-{report.end}",
            "observed": report.observed,
            "reorg_depth": report.reorg_depth,
            "credited": len(report.credited),
            "reversed": len(report.reversed),
            "pending": report.pending,
            "payments": str(payments),
        },
    )
    requests = settle_requests(list(tick.confirmed))
    if report.reorg_depth:
        requests.append(
            dg.RunRequest(
                run_key=f"{chain}:{report.start}-{report.end}:reorg",
                run_config={"ops": {"chain_confirmations": {"config": {"chain": chain}}}},
                job_name=confirmations_job.name,
            )
        )
    return _Tick(chain, cursor, event, tuple(requests))


def _result(
    ticks: list[_Tick], cursor: str | None, before: str | None
) -> dg.SensorResult | dg.SkipReason:
    events = [t.event for t in ticks if t.event is not None]
    requests = [r for t in ticks for r in t.requests]
    if events or requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor, asset_events=events)
    chains = ", ".join(t.chain for t in ticks)
    if cursor == before:
        return dg.SkipReason(f"{chains}: no new block")
    return dg.SensorResult(cursor=cursor, skip_reason=f"{chains}: nothing for us in new blocks")


def chain_sensor(
    chain: str,
    build_adapter: AdapterFactory,
    *,
    interval_s: int = 10,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """The sensor watching ``chain`` alone, with adapters from ``build_adapter`` (per tick)."""

    @dg.sensor(
        name=f"{chain}_chain_sensor",
        jobs=[confirmations_job, settlement_job],
        minimum_interval_seconds=interval_s,
        default_status=default_status,
    )
    def _sensor(
        context: dg.SensorEvaluationContext, db: WalletDatabase
    ) -> dg.SensorResult | dg.SkipReason:
        tick = _scan(chain, build_adapter, db)
        return _result([tick], tick.cursor, context.cursor)

    return _sensor


def chains_sensor(
    adapters: Mapping[str, AdapterFactory],
    *,
    name: str = "chains_sensor",
    interval_s: int = CHAINS_INTERVAL_S,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """One sensor for every chain in ``adapters``: each tick scans them side by side.

    A chain whose scan fails does not hold the others back: their results
    are recorded and the failure is logged on the tick (the next tick retries
    it from its cursor; ``chain_lag`` in the monitoring sensor alerts if it
    persists). The tick fails only when every chain failed.
    """
    chains = list(adapters)

    @dg.sensor(
        name=name,
        jobs=[confirmations_job, settlement_job],
        minimum_interval_seconds=interval_s,
        default_status=default_status,
        description=f"Scans {', '.join(chains)}: observations, credits, payment confirmations.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, db: WalletDatabase
    ) -> dg.SensorResult | dg.SkipReason:
        with ThreadPoolExecutor(len(chains), thread_name_prefix="chain-scan") as pool:
            futures = {c: pool.submit(_scan, c, adapters[c], db) for c in chains}
        ticks: list[_Tick] = []
        failed: list[str] = []
        for chain, future in futures.items():
            error = future.exception()
            if error is None:
                ticks.append(future.result())
            else:
                context.log.error(f"{chain} scan failed: {error!r}")
                failed.append(chain)
                if len(failed) == len(chains):
                    raise RuntimeError(f"every chain scan failed; last: {error!r}") from error
        before = _decode(context.cursor)
        cursors = {**before, **{t.chain: t.cursor for t in ticks if t.cursor is not None}}
        cursor = json.dumps(cursors, sort_keys=True)
        result = _result(ticks, cursor, json.dumps(before, sort_keys=True))
        if failed and isinstance(result, dg.SkipReason):
            result = dg.SkipReason(f"{result.skip_message}; scan failed: {', '.join(failed)}")
        return result

    return _sensor


def _decode(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def settings_adapter(chain: str) -> AdapterFactory:
    """A factory for ``chain``'s adapter from the code location's settings (read when built)."""

    def settings() -> Any:
        from pipelines.resources import _settings  # looked up per build: tests repoint it

        return _settings()

    return watcher.settings_adapter(chain, settings)


def all_chains_sensor(interval_s: int = CHAINS_INTERVAL_S) -> dg.SensorDefinition:
    """The code location's chain sensor: every chain, adapters from settings, kept open."""
    adapters = {chain: SharedAdapter(settings_adapter(chain)) for chain in CHAINS}
    return chains_sensor(adapters, interval_s=interval_s)
