"""``make run``'s platform (``taskforce run``) comes up, pays the demo vendor and stops clean.

The newcomer's first five minutes, without the browser: the whole tree as
``make run`` starts it (sandbox, migrations, demo accounts, gunicorn, the
Dagster code server, ``dagster dev``, the warm worker), the demo payer
paying the demo vendor's QR over the API until "vendor paid", then SIGTERM.
Driven by the footprint benchmark's runner at a tiny size (it owns the
process-tree sampling and the leftover check); nothing here asserts a time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_make_run_pays_the_demo_vendor_and_leaves_nothing_behind(tmp_path: Path) -> None:
    from bench import footprint

    scale = footprint.FootprintScale(
        idle_seconds=2.0,
        settle_seconds=0.0,
        load_payments=1,
        load_spacing_s=1.0,
        after_seconds=1.0,
        paid_timeout_s=240.0,
        quiet_s=0.0,
    )
    result = footprint.run(scale, plots_dir=tmp_path)
    assert result.skipped is None, result.skipped  # the sandbox's default ports were free
    notes = "\n".join(result.notes)
    [unpaid] = [f for f in result.figures if f.name.startswith("demo payments whose vendor")]
    assert (unpaid.value, unpaid.met) == (0.0, True), notes
    assert "1 vendors paid, 0 refusals" in notes
    assert "left behind" not in notes and "process(es) behind" not in notes  # a clean stop
    # The code location runs as one gRPC server, as deploy/ runs it: no reload proxy.
    assert "| dagster code server | 1 |" in notes, notes
    assert "| taskforce run |" in notes and "| web app (gunicorn) |" in notes
