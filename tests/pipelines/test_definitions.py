"""The code location loads, and wires what the platform relies on."""

from __future__ import annotations

import dagster as dg

from pipelines.definitions import defs


def test_definitions_load_and_validate() -> None:
    dg.Definitions.validate_loadable(defs)
    sensors = {s.name for s in defs.sensors}
    assert {
        "payments_sensor",
        "rates_sensor",
        "housekeeping_sensor",
        "outbox_sensor",
        "run_failure_alerts",
        "monitoring_sensor",
        "chains_sensor",
    } <= sensors
    # Cheap checks share a tick; every one of them is still run by some sensor.
    housekeeping = defs.get_sensor_def("housekeeping_sensor").description or ""
    for part in ("rates_age_sensor", "stuck_payments_sensor", "float_low_sensor"):
        assert part in housekeeping
    chains = defs.get_sensor_def("chains_sensor").description or ""
    assert all(chain in chains for chain in ("ethereum", "solana", "bitcoin", "dogecoin"))
    job = defs.resolve_job_def("settlement_job")
    assert [n.name for n in job.nodes] == ["settlements"]
    graph = defs.resolve_asset_graph()
    checks = {k.name for k in graph.asset_check_keys}
    assert {"ledger_balanced", "rates_fresh", "no_payment_stuck", "float_above_minimum"} <= checks
    recon = defs.resolve_assets_def("reconciliation_report")
    assert recon.partitions_def is not None
    assert recon.partitions_def.timezone == "Asia/Kolkata"  # type: ignore[attr-defined]


def test_the_web_app_gets_none_when_dagster_is_not_running() -> None:
    from pipelines.submit import submit_settlement_run
    from sandbox.testing import free_port

    assert submit_settlement_run(["p1"], port=free_port(), timeout_s=1) is None
