"""Named crash points for the crash-recovery tests.

``crash_point("after_payout_call")`` kills this process with SIGKILL when
the environment says ``TASKFORCE_CRASH_AT=after_payout_call``: no cleanup,
no rollback handlers, exactly like a machine losing power. The variable is
read at the call (never at import), and is unset in production.

``TASKFORCE_STALL_AT=after_payout_call:4`` with ``TASKFORCE_STALL_DIR`` set
makes the process *hang* the fourth time it reaches that point (counted
across processes through files in the directory), after writing
``stalled`` there: a test that must kill a worker in the middle of a step
waits for that file instead of racing the step to its end.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

CRASH_ENV = "TASKFORCE_CRASH_AT"
STALL_ENV = "TASKFORCE_STALL_AT"
STALL_DIR_ENV = "TASKFORCE_STALL_DIR"
STALLED_FILE = "stalled"

POINTS = (
    "attempt_committed",  # the attempt row (and payout key) is durable, nothing sent
    "after_payout_call",  # RazorpayX answered; the answer is not stored yet
    "after_sell",  # the venue filled the order; the fill is not stored yet
    "before_final_commit",  # the batch booking and completion are about to commit
)


def crash_point(name: str) -> None:
    """Die (or hang) here if the test harness asked for it (see :data:`POINTS`)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    point, _, nth = os.environ.get(STALL_ENV, "").rpartition(":")
    if point == name:
        _count_and_maybe_stall(int(nth), Path(os.environ[STALL_DIR_ENV]))


def _count_and_maybe_stall(nth: int, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"hit-{uuid.uuid4().hex}").touch()
    if sum(1 for p in directory.iterdir() if p.name.startswith("hit-")) < nth:
        return
    (directory / STALLED_FILE).write_text(str(os.getpid()))
    while True:  # a hung worker: only a kill ends it
        time.sleep(3600)
