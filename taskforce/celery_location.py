"""The code location with every job on the Celery executor.

Same assets, checks, jobs, sensors and resources as ``pipelines.definitions``;
only the executor differs (:func:`taskforce.distributed.celery_executor`).
Load it with ``dagster api grpc -m taskforce.celery_location`` (or
``python_module: taskforce.celery_location`` in a workspace) when Celery
workers are running and ``CELERY_BROKER_URL`` is set.
"""

from __future__ import annotations

from pipelines.definitions import build_defs
from taskforce.distributed import celery_executor

defs = build_defs(executor=celery_executor())
