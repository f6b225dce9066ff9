"""Settlement on the Celery executor: the executor, its workers, one config for both.

``dagster-celery`` runs each step of a run as a Celery task on whichever
worker takes it from the broker (RabbitMQ), so several worker processes,
on one machine or many, share the steps of many runs. Dagster is
at-least-once here as everywhere: a worker killed mid-step loses its
message back to the broker (``task_acks_late`` + ``task_reject_on_worker_lost``)
and another worker runs the step again. Exactly-once *effects* come from
the settlement's attempt rows and idempotency keys, never from Celery.

The broker URL is read from ``CELERY_BROKER_URL`` when a run starts (a
Dagster ``StringSource``), never at import. Workers must be started with
the same ``config_source`` (see :func:`worker_config`), or a late-acked
task on the executor side meets an early-acking worker and is lost with it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

BROKER_ENV = "CELERY_BROKER_URL"
QUEUE = "dagster"  # dagster_celery routes every step task to this queue

# Shared by the executor (submitting side) and every worker (consuming side).
CONFIG_SOURCE: dict[str, Any] = {
    # Ack after the step finished: a worker killed mid-step gives its task back.
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    # One step at a time per worker process; a prefetched step would wait behind a long one.
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
}


def executor_config(broker: str | Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``celery_executor`` config: broker from ``CELERY_BROKER_URL`` unless given."""
    return {
        "broker": broker if broker is not None else {"env": BROKER_ENV},
        "backend": "rpc://",
        "config_source": dict(CONFIG_SOURCE),
    }


def celery_executor() -> Any:
    """``dagster_celery.celery_executor`` configured for settlement."""
    from dagster_celery import celery_executor as base

    return base.configured(executor_config(), name="celery")


def worker_config(broker_url: str) -> dict[str, Any]:
    """What ``dagster-celery worker start -y`` reads: the executor config, resolved.

    The CLI only looks under ``execution.config`` (a run-config fragment);
    anything else in the file is silently ignored and the worker falls back
    to Celery's defaults (early acks: a killed worker's step is lost).
    """
    return {"execution": {"config": executor_config(broker_url)}}


def write_worker_config(path: Path, broker_url: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(worker_config(broker_url), sort_keys=True))
    return path


def worker_argv(bin_dir: Path, name: str, config_yaml: Path, concurrency: int = 1) -> list[str]:
    """``dagster-celery worker start`` for one named worker of ``concurrency`` processes."""
    return [
        str(bin_dir / "dagster-celery"),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(config_yaml),
        "-n",
        name,
        "-q",
        QUEUE,
        "--",
        f"--concurrency={concurrency}",
        "--without-gossip",  # workers need not chat; fewer broker round trips
        "--without-mingle",
    ]


def start_worker(
    argv: list[str], *, cwd: Path, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start a worker in its own process group (stop it with ``os.killpg``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - argv built by worker_argv from our own values
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
