"""Render the Dagster instance configuration (``$DAGSTER_HOME/dagster.yaml``).

The checked-in ``dagster.yaml`` documents the same settings; this renders
them with the storage the settings name: SQLite under ``DAGSTER_HOME`` by
default, dagster-postgres when ``DAGSTER_STORAGE_URL`` is set (it must say
``postgresql+psycopg2://`` because dagster-postgres breaks on psycopg 3).
"""

from __future__ import annotations

import json

from wallet.config import Settings

_COMMON = """\
telemetry:
  enabled: false
run_queue:
  # The payments sensor splits a backlog into this many runs (sensors.payments.RUN_SLOTS).
  max_concurrent_runs: 4
  # Queued runs are the warm worker's safety net and schedules: 2 s is soon enough, and
  # each look at an empty queue cost the idle daemon about 0.7 % of a core at 1 s.
  dequeue_interval_seconds: 2
  # Launching a run spawns a process; threads keep one slow launch from holding
  # the others (a pay-now run must not wait behind a safety-net retry).
  dequeue_use_threads: true
  dequeue_num_workers: 4
run_monitoring:
  enabled: true
  poll_interval_seconds: 5
run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false
sensors:
  use_threads: true
  num_workers: 2
"""


def render_instance_yaml(settings: Settings) -> str:
    text = _COMMON
    url = settings.dagster_storage_url
    if url:
        if not url.startswith("postgresql+psycopg2://"):
            url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        text += f"storage:\n  postgres:\n    postgres_url: {json.dumps(url)}\n"
    return text
