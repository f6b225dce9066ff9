"""The Celery workers get the same settings the executor submits with.

``dagster-celery worker start -y`` silently ignores a file it does not
understand, so this reads our worker file back through the CLI's own
loader and the module it writes for the worker.
"""

from __future__ import annotations

from pathlib import Path

from dagster_celery.cli import get_validated_config

from taskforce.distributed import CONFIG_SOURCE, write_worker_config

BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"


def test_worker_file_carries_broker_and_late_acks(tmp_path: Path) -> None:
    path = write_worker_config(tmp_path / "celery.yaml", BROKER)
    config = get_validated_config(str(path))
    assert config["broker"] == BROKER
    assert config["backend"] == "rpc://"
    assert config["config_source"] == CONFIG_SOURCE
    assert config["config_source"]["task_acks_late"] is True
    assert config["config_source"]["task_reject_on_worker_lost"] is True
