"""One settlement run on the Celery executor, in a process of its own (as a run worker).

``python -m tests.scaling.celery_run ID [ID ...]`` executes ``settlement_job``
from ``taskforce.celery_location`` for those payment ids against the
instance in ``$DAGSTER_HOME`` and prints ``{"run_id", "success"}`` as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(payment_ids: list[str]) -> int:
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    recon_job = ReconstructableRepository.for_module(
        "taskforce.celery_location", "defs", working_directory=str(REPO)
    ).get_reconstructable_job("settlement_job")
    run_config = {"ops": {"settlements": {"config": {"payment_ids": payment_ids}}}}
    with (
        dg.DagsterInstance.get() as instance,
        dg.execute_job(recon_job, instance=instance, run_config=run_config) as result,
    ):
        print(json.dumps({"run_id": result.run_id, "success": result.success}))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
