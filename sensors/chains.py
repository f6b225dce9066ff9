"""Chain sensors: scan inside the sensor, report observations, launch runs only on change.

One sensor per chain. Each tick runs custody's
:func:`wallet.custody.service.scan_chain` in the long-lived code server
(cost grows with new blocks, not with pending payments): observations are
written idempotently (unique key), confirmed deposits credited exactly once,
and the tick is reported as an ``AssetObservation`` of
``chain_confirmations``. External payments are moved on in the same tick
(:func:`wallet.chains.confirmations.advance_payments`: detected, confirmed,
under/overpaid, reorged), so a confirmed payment reaches the payments
sensor without a run. A run is requested only when payments may have to
move — new observations, credits, reversals or a reorg — with run key
``<chain>:<start>-<end>``. The cursor is ``<height>:<hash>`` of the last
scanned block; after a reorg the scanner walks back to the fork point and
the cursor moves back with it.
"""

from collections.abc import Callable

import dagster as dg

from assets.chains import chain_confirmations
from pipelines.jobs import confirmations_job
from pipelines.resources import WalletDatabase
from wallet.chains.base import ChainAdapter

AdapterFactory = Callable[[], ChainAdapter]


def chain_sensor(
    chain: str,
    build_adapter: AdapterFactory,
    *,
    interval_s: int = 10,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """The sensor watching ``chain`` with adapters from ``build_adapter`` (called per tick)."""

    @dg.sensor(
        name=f"{chain}_chain_sensor",
        job=confirmations_job,
        minimum_interval_seconds=interval_s,
        default_status=default_status,
    )
    def _sensor(
        context: dg.SensorEvaluationContext, db: WalletDatabase
    ) -> dg.SensorResult | dg.SkipReason:
        from pipelines.resources import _settings
        from wallet.chains.confirmations import AdvanceReport, advance_payments
        from wallet.chains.models import ScanCursor
        from wallet.custody.service import scan_chain

        factory = db.factory()
        adapter = build_adapter()
        payments = AdvanceReport()
        try:
            # Scan + credit confirmed deposits, idempotently (custody's tick).
            report = scan_chain(factory, chain, _settings(), adapter=adapter)
            if report.end >= report.start or report.reorg_depth:
                # Confirmations only change with new blocks; no open payment costs no RPC.
                payments = advance_payments(factory, chain, adapter=adapter, settings=_settings())
        finally:
            adapter.close()
        with factory() as session:
            cursor_row = session.get(ScanCursor, chain)
            cursor = f"{cursor_row.height}:{cursor_row.block_hash}" if cursor_row else None
        if report.end < report.start and not report.reorg_depth:
            return dg.SkipReason(f"{chain}: no new block")
        events = [
            dg.AssetObservation(
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
        ]
        requests = []
        if report.changed:
            suffix = ":reorg" if report.reorg_depth else ""
            requests.append(
                dg.RunRequest(
                    run_key=f"{chain}:{report.start}-{report.end}{suffix}",
                    run_config={"ops": {"chain_confirmations": {"config": {"chain": chain}}}},
                )
            )
        return dg.SensorResult(run_requests=requests, cursor=cursor, asset_events=events)

    return _sensor


def settings_adapter(chain: str) -> AdapterFactory:
    """A factory for ``chain``'s adapter from settings (custody's ``build_adapter``)."""

    def build() -> ChainAdapter:
        from pipelines.resources import _settings
        from wallet.assets import Chain
        from wallet.custody.service import build_adapter

        return build_adapter(Chain(chain), _settings())

    return build


CHAINS = ("ethereum", "solana", "bitcoin", "dogecoin")
